"""`needs` names the extra a missing module belongs to, and nothing else."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest

from snapdeploy.core.errors import SnapdeployError
from snapdeploy.core.extras import EXTRAS, MissingExtraError, needs


def test_a_missing_module_of_the_extra_names_the_extra_and_the_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "pynq", None)
    with pytest.raises(MissingExtraError) as caught, needs("fpga", "the board driver"):
        import pynq  # noqa: F401
    message = str(caught.value)
    assert "the board driver needs the 'fpga' extra (pynq is not installed)" in message
    assert "pip install 'snapdeploy[fpga]'" in message
    assert isinstance(caught.value, SnapdeployError) and caught.value.name == "pynq"


def test_it_stays_a_module_not_found_error_for_code_that_tries_an_optional_import(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ModuleNotFoundError), needs("train", "x"):
        import torch.distributed  # noqa: F401


def test_a_module_of_another_extra_or_none_passes_through_unchanged() -> None:
    with pytest.raises(ModuleNotFoundError) as caught, needs("train", "x"):
        import snapdeploy_no_such_module  # noqa: F401
    assert not isinstance(caught.value, MissingExtraError)


def test_lava_says_what_pip_alone_cannot_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "lava", None)
    lava_fix = r"snapdeploy\[lava\].*install_lava\.py"
    with pytest.raises(MissingExtraError, match=lava_fix), needs("lava", "x"):
        import lava  # noqa: F401


def test_an_unknown_extra_is_a_bug_named_at_once() -> None:
    with pytest.raises(KeyError), needs("gpu", "x"):
        pass


def test_every_extra_of_pyproject_is_in_the_table() -> None:
    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    declared = set(project["project"]["optional-dependencies"]) - {"test"}
    assert declared == set(EXTRAS)
