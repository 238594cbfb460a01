"""Source templates and source hashes, shared by every FPGA core's writer."""

from __future__ import annotations

from pathlib import Path

import pytest

from snapdeploy.backends.fpga.sources import fill_template, source_hash
from snapdeploy.core.errors import BackendError


def test_a_template_is_filled_where_writer_and_template_agree(tmp_path: Path) -> None:
    template = tmp_path / "core.h.in"
    template.write_text("int a = {{A}};\nint b = {{B}};\n")
    assert fill_template(template, {"A": "1", "B": "-2"}) == "int a = 1;\nint b = -2;\n"


def test_template_and_writer_must_agree(tmp_path: Path) -> None:
    template = tmp_path / "core.h.in"
    template.write_text("{{A}} {{B}}")
    with pytest.raises(
        BackendError,
        match=r"core.h.in and the writer disagree.*without a value \['B'\].*"
        r"without a placeholder \['C'\]",
    ):
        fill_template(template, {"A": "1", "C": "2"})


def test_a_missing_template_says_to_reinstall(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="gone.h.in is missing; fix: reinstall snapdeploy"):
        fill_template(tmp_path / "gone.h.in", {})


def test_the_source_hash_covers_names_and_bytes(tmp_path: Path) -> None:
    a, b = tmp_path / "a.v", tmp_path / "b.v"
    a.write_text("module a;")
    b.write_text("module b;")
    first = source_hash([a, b])
    assert first == source_hash([b, a])
    renamed = b.rename(tmp_path / "c.v")
    assert source_hash([a, renamed]) != first
    renamed.write_text("module b; ")
    renamed.rename(b)
    assert source_hash([a, b]) != first
