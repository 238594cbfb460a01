"""The RTL core's Verilator simulation as the emulated overlay's core model.

The library is the Verilog core verilated with the harness of core/lif_harness.cpp
(`build.py`); each ap_start runs the core cycle by cycle, the harness writing the register
file over AXI-Lite and serving the core's memory requests, and records the cycles it took.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np

from snapdeploy.backends.fpga import regmap
from snapdeploy.backends.fpga.overlay import EmulatedOverlay
from snapdeploy.core.errors import BackendError

#: Register words the harness writes before ap_start: the map up to and including LOAD.
REGISTER_WORDS = regmap.LOAD // 4 + 1


class VerilatorCore:
    """One simulated RTL LIF core holding a partition's layer table."""

    ip_type = "snapdeploy:rtl:lif_core:1.0"

    def __init__(self, library: Path, layer_table: np.ndarray):
        self.source = str(library)
        self._lib = ctypes.CDLL(str(library))
        self._lib.rtl_open.argtypes = [ctypes.c_void_p, ctypes.c_int]
        self._lib.rtl_open.restype = ctypes.c_void_p
        self._lib.rtl_ap_start.argtypes = [
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.c_int,
            ctypes.c_uint32,
        ]
        self._lib.rtl_ap_start.restype = ctypes.c_uint64
        self._lib.rtl_close.argtypes = [ctypes.c_void_p]
        table = np.ascontiguousarray(layer_table, dtype=np.uint32)
        self._handle = self._lib.rtl_open(table.ctypes.data, len(table))
        #: Clock cycles of every ap_start so far, in order (a parameter load is one).
        self.cycles: list[int] = []

    def ap_start(self, registers: np.ndarray) -> None:
        if self._handle is None:
            raise BackendError("this RTL simulation is closed; fix: load the partition again")
        cycles = self._lib.rtl_ap_start(
            self._handle, registers.ctypes.data, REGISTER_WORDS, regmap.CTRL
        )
        if cycles == 0:
            raise BackendError(
                f"the RTL core in {self.source} never raised ap_done; fix: report this with "
                f"the partition's build directory"
            )
        self.cycles.append(int(cycles))

    def close(self) -> None:
        if self._handle is not None:
            self._lib.rtl_close(self._handle)
            self._handle = None

    def __del__(self) -> None:
        self.close()


def rtl_overlay(library: Path, layer_table: np.ndarray) -> tuple[EmulatedOverlay, VerilatorCore]:
    """An emulated overlay over a fresh simulation of the core, and that simulation."""
    core = VerilatorCore(library, layer_table)
    return EmulatedOverlay(core), core
