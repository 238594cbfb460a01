"""Build `lif_cpu.cpp` with the machine's g++ on first use, cache it, load it through ctypes.

The kernel is plain C++ with a C ABI and no torch headers: it compiles in about a second
(a torch extension's headers take 30-80 s on two cores) and needs no ninja. The shared
library is cached under a name hashed from the source, the flags, the compiler's version and
the CPU's instruction set (it is built with -march=native), so an edit or a different machine
rebuilds it and a stale one is never loaded. It links the OpenMP runtime by soname, so in a
process that imported torch it shares torch's libgomp and thread pool.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
from functools import cache
from pathlib import Path

from snapdeploy.core.errors import SnapdeployError
from snapdeploy.core.files import compile_atomically, cpu_flags

SOURCE = Path(__file__).with_name("lif_cpu.cpp")
FLAGS = ["-O3", "-march=native", "-ffp-contract=off", "-fopenmp", "-fPIC", "-shared", "-std=c++17"]
CXX_ENV = "SNAPDEPLOY_CXX"
CACHE_ENV = "SNAPDEPLOY_CACHE"


class FusedLIFError(SnapdeployError):
    """The fused LIF cannot run: its kernel did not build or load, or it was given arguments
    it does not take (`lif_sequence` takes those)."""


def cache_dir() -> Path:
    """$SNAPDEPLOY_CACHE, else $XDG_CACHE_HOME/snapdeploy, else ~/.cache/snapdeploy."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "snapdeploy"


def compiler() -> str:
    name = os.environ.get(CXX_ENV, "g++")
    path = shutil.which(name)
    if path is None:
        raise FusedLIFError(
            f"fused LIF: C++ compiler {name!r} not found (needed to build {SOURCE.name}); "
            f"fix: install g++ (apt-get install g++), set {CXX_ENV}, or use LIF(fused=False)"
        )
    return path


def library_path(cxx: str) -> Path:
    version = subprocess.run([cxx, "--version"], capture_output=True, text=True, check=False)
    key = hashlib.sha256()
    for part in (SOURCE.read_bytes(), " ".join(FLAGS), version.stdout, cpu_flags()):
        key.update(part if isinstance(part, bytes) else part.encode())
    return cache_dir() / f"lif_cpu-{key.hexdigest()[:16]}.so"


def compile_library(cxx: str, target: Path) -> None:
    """Compile into a temporary file beside `target`, then rename: never half a library."""
    done = compile_atomically([cxx, *FLAGS, str(SOURCE)], target)
    if done.returncode != 0:
        raise FusedLIFError(
            f"fused LIF: {cxx} failed to compile {SOURCE} (exit {done.returncode}):\n"
            f"{done.stderr.strip()}\nfix: check the compiler supports C++17 and OpenMP, "
            f"or use LIF(fused=False)"
        )


def declare(lib: ctypes.CDLL) -> None:
    """Argument types of the six entry points, so ctypes converts scalars correctly."""
    ptr, i64, c_int = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int
    for suffix, scalar in (("f32", ctypes.c_float), ("f64", ctypes.c_double)):
        forward = getattr(lib, f"lif_forward_{suffix}")
        forward.argtypes = [ptr] * 5 + [i64] * 3 + [scalar] * 3 + [c_int]
        forward.restype = None
        cells = getattr(lib, f"lif_backward_cells_{suffix}")
        cells.argtypes = [i64] * 3
        cells.restype = i64
        backward = getattr(lib, f"lif_backward_{suffix}")
        backward.argtypes = [ptr] * 3 + [scalar] + [ptr] * 5 + [i64] * 3 + [scalar] * 4 + [c_int]
        backward.restype = None


@cache
def cpu_kernel() -> ctypes.CDLL:
    """The loaded kernel library, built first if this machine has none cached."""
    cxx = compiler()
    path = library_path(cxx)
    if not path.exists():
        compile_library(cxx, path)
    try:
        lib = ctypes.CDLL(str(path))
    except OSError as exc:
        raise FusedLIFError(
            f"fused LIF: cannot load {path}: {exc}; fix: delete it to rebuild, "
            f"or use LIF(fused=False)"
        ) from exc
    declare(lib)
    return lib
