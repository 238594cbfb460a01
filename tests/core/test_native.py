"""Building our C++ kernels: into an empty cache once, reused after, named errors for a missing
compiler or a failed build, and no half-written library left behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from snapdeploy.core import native
from snapdeploy.core.errors import SnapdeployError

SOURCE = Path(native.__file__).with_name("lif_int.cpp")


class KernelError(SnapdeployError):
    pass


def test_builds_into_an_empty_cache_once(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(native.CACHE_ENV, str(tmp_path))
    lib = native.load_library(SOURCE, native.BASE_FLAGS, KernelError, "do without")
    assert hasattr(lib, "lif_int_layer")
    built = list(tmp_path.iterdir())
    assert [p.name for p in built] == [native.library_path(SOURCE, native.BASE_FLAGS, "g++").name]
    stamp = built[0].stat().st_mtime_ns
    native.load_library(SOURCE, native.BASE_FLAGS, KernelError, "do without")
    assert built[0].stat().st_mtime_ns == stamp  # reused, not rebuilt


def test_other_flags_are_another_library(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(native.CACHE_ENV, str(tmp_path))
    one = native.library_path(SOURCE, native.BASE_FLAGS, "g++")
    other = native.library_path(SOURCE, [*native.BASE_FLAGS, "-ffp-contract=off"], "g++")
    assert one != other and one.parent == other.parent == tmp_path


def test_a_header_the_source_includes_is_part_of_its_key(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(native.CACHE_ENV, str(tmp_path / "cache"))
    assert native.local_headers(SOURCE) == [SOURCE.with_name("lif_update.h")]
    source, header = tmp_path / "k.cpp", tmp_path / "k.h"
    source.write_text('#include "k.h"\n#include <cstdint>\nextern "C" int k() { return K; }\n')
    header.write_text("#define K 1\n")
    before = native.library_path(source, native.BASE_FLAGS, "g++")
    header.write_text("#define K 2\n")
    assert native.library_path(source, native.BASE_FLAGS, "g++") != before
    assert native.load_library(source, native.BASE_FLAGS, KernelError, "do without").k() == 2


def test_missing_compiler_is_named_with_the_fix(monkeypatch) -> None:
    monkeypatch.setenv(native.CXX_ENV, "no-such-g++")
    with pytest.raises(
        KernelError, match=r"'no-such-g\+\+' not found.*fix: install g\+\+.*do without"
    ):
        native.load_library(SOURCE, native.BASE_FLAGS, KernelError, "do without")


def test_failed_compile_is_named_and_leaves_no_library(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(native.CACHE_ENV, str(tmp_path))
    broken = tmp_path / "broken.cpp"
    broken.write_text("this is not C++\n")
    with pytest.raises(KernelError, match=r"(?s)failed to compile .*broken\.cpp.*do without"):
        native.load_library(broken, native.BASE_FLAGS, KernelError, "do without")
    assert [p.name for p in tmp_path.iterdir()] == ["broken.cpp"]


def test_builds_reports_false_with_a_warning_naming_the_cause(monkeypatch) -> None:
    monkeypatch.setenv(native.CXX_ENV, "no-such-g++")

    def load():
        return native.load_library(SOURCE, native.BASE_FLAGS, KernelError, "do without")

    with pytest.warns(UserWarning, match="numpy runs instead: .*no-such-g"):
        assert not native.builds(load, "numpy runs instead")
