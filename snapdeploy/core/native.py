"""Build a C++ source with the machine's g++ on first use, cache it, load it through ctypes.

Our kernels are plain C++ with a C ABI and no Python or torch headers: each compiles in
about a second (a torch extension's headers take 30-80 s on two cores) and needs no ninja.
A shared library is cached under a name hashed from the source (and the headers it includes
from beside it), the flags, the compiler's version and the CPU's instruction set (kernels
are built with -march=native), so an edit or a different machine rebuilds it and a stale
one is never loaded. Libraries link the OpenMP
runtime by soname, so in a process that imported torch they share torch's libgomp. Calling
one: `pointer` for its arrays, `threads` for how many OpenMP threads a call is worth.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import re
import shutil
import subprocess
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from snapdeploy.core.errors import SnapdeployError
from snapdeploy.core.files import compile_atomically, cpu_flags

BASE_FLAGS = ["-O3", "-march=native", "-fopenmp", "-fPIC", "-shared", "-std=c++17"]
CXX_ENV = "SNAPDEPLOY_CXX"
CACHE_ENV = "SNAPDEPLOY_CACHE"
#: Elements per step below which one thread is faster than waking a second.
PARALLEL_GRAIN = 1 << 15


def cache_dir() -> Path:
    """$SNAPDEPLOY_CACHE, else $XDG_CACHE_HOME/snapdeploy, else ~/.cache/snapdeploy."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "snapdeploy"


def compiler(what: str, error: type[SnapdeployError], fallback: str) -> str:
    """The path of $SNAPDEPLOY_CXX (default g++); `error` names `what` needs it if absent."""
    name = os.environ.get(CXX_ENV, "g++")
    path = shutil.which(name)
    if path is None:
        raise error(
            f"C++ compiler {name!r} not found (needed to build {what}); fix: install "
            f"g++ (apt-get install g++), set {CXX_ENV}, or {fallback}"
        )
    return path


def local_headers(source: Path) -> list[Path]:
    """The headers `source` includes by quoted name from beside it (`#include "x.h"`): part of
    what it compiles to, so part of its cache key."""
    names = re.findall(r'^\s*#include\s+"([^"]+)"', source.read_text(), flags=re.MULTILINE)
    return [source.parent / name for name in names]


def library_path(source: Path, flags: list[str], cxx: str) -> Path:
    version = subprocess.run([cxx, "--version"], capture_output=True, text=True, check=False)
    key = hashlib.sha256()
    texts = [source.read_bytes(), *(header.read_bytes() for header in local_headers(source))]
    for part in (*texts, " ".join(flags), version.stdout, cpu_flags()):
        key.update(part if isinstance(part, bytes) else part.encode())
    return cache_dir() / f"{source.stem}-{key.hexdigest()[:16]}.so"


def load_library(
    source: Path, flags: list[str], error: type[SnapdeployError], fallback: str
) -> ctypes.CDLL:
    """The compiled `source`, built first if this machine has none cached.

    Failures raise `error` naming the cause; `fallback` says what works without the kernel.
    The build goes to a temporary file renamed into place: never half a library.
    """
    cxx = compiler(source.name, error, fallback)
    path = library_path(source, flags, cxx)
    if not path.exists():
        done = compile_atomically([cxx, *flags, str(source)], path)
        if done.returncode != 0:
            raise error(
                f"{cxx} failed to compile {source} (exit {done.returncode}):\n"
                f"{done.stderr.strip()}\nfix: check the compiler supports C++17 and OpenMP, "
                f"or {fallback}"
            )
    try:
        return ctypes.CDLL(str(path))
    except OSError as exc:
        raise error(f"cannot load {path}: {exc}; fix: delete it to rebuild, or {fallback}") from exc


def builds(load: Callable[[], ctypes.CDLL], instead: str) -> bool:
    """Whether `load` gives its kernel on this machine; if not, warn saying what runs
    `instead` and why (callers cache the answer, so the warning comes once)."""
    try:
        load()
    except SnapdeployError as exc:
        warnings.warn(f"{instead}: {exc}", stacklevel=3)
        return False
    return True


def threads(rows: int, work: int) -> int:
    """OpenMP threads for `rows` independent rows totalling `work` elements per step (at most
    the CPUs this process may run on)."""
    return max(1, min(rows, len(os.sched_getaffinity(0)), work // PARALLEL_GRAIN))


def pointer(array: np.ndarray) -> int:
    """The address a kernel reads `array` at; only a C-contiguous array means what it says."""
    if not array.flags.c_contiguous:
        raise ValueError("the kernel reads arrays as C-contiguous; pass np.ascontiguousarray(...)")
    return array.ctypes.data
