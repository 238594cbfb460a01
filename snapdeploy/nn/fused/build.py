"""Load `lif_cpu.cpp` through ctypes, built with the machine's g++ on first use and cached
(`core.native`: keyed by source, flags, compiler and CPU). It links the OpenMP runtime by
soname, so in a process that imported torch it shares torch's libgomp and thread pool.
"""

from __future__ import annotations

import ctypes
from functools import cache

from snapdeploy.core.errors import SnapdeployError
from snapdeploy.core.native import BASE_FLAGS, load_library
from snapdeploy.core.resources import package_path

SOURCE = package_path("snapdeploy.nn.fused", "lif_cpu.cpp")
#: No fused multiply-add: torch's step loop multiplies and adds separately, and spikes must
#: be bit-equal to it.
FLAGS = [*BASE_FLAGS, "-ffp-contract=off"]


class FusedLIFError(SnapdeployError):
    """The fused LIF cannot run: its kernel did not build or load, or it was given arguments
    it does not take (`lif_sequence` takes those)."""


def declare(lib: ctypes.CDLL) -> None:
    """Argument types of the six entry points, so ctypes converts scalars correctly."""
    ptr, i64, c_int = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int
    for suffix, scalar in (("f32", ctypes.c_float), ("f64", ctypes.c_double)):
        forward = getattr(lib, f"lif_forward_{suffix}")
        forward.argtypes = [ptr] * 5 + [i64] * 3 + [scalar] * 3 + [c_int] * 2
        forward.restype = None
        cells = getattr(lib, f"lif_backward_cells_{suffix}")
        cells.argtypes = [i64] * 3
        cells.restype = i64
        backward = getattr(lib, f"lif_backward_{suffix}")
        backward.argtypes = [ptr] * 3 + [scalar] + [ptr] * 5 + [i64] * 3 + [scalar] * 4
        backward.argtypes += [c_int] * 2
        backward.restype = None


@cache
def cpu_kernel() -> ctypes.CDLL:
    """The loaded kernel library, built first if this machine has none cached."""
    lib = load_library(SOURCE, FLAGS, FusedLIFError, "use LIF(fused=False)")
    declare(lib)
    return lib
