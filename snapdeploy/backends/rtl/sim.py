"""The RTL core's Verilator simulation as the emulated overlay's core model.

The library is the Verilog core verilated with the harness of core/lif_harness.cpp
(`build.py`); each ap_start runs the core cycle by cycle, the harness writing the register
file over AXI-Lite and serving the core's memory requests, and records the cycles it took.
On a PYNQ-Z2's part the library is the Zynq top instead (core/lif_zynq_harness.cpp: the core
behind its AXI4 master, an AXI4 slave memory that can stall and fail), run by `ZynqCore`.
"""

from __future__ import annotations

import ctypes
import threading
from pathlib import Path

import numpy as np

from snapdeploy.backends.fpga import regmap
from snapdeploy.backends.fpga.overlay import EmulatedOverlay
from snapdeploy.core.errors import BackendError

from .build import CORE_MODEL, ZYNQ_MODEL, Model
from .engines import check_engines
from .layout import table_kinds

#: Register words the harness writes before ap_start: the map up to and including LOAD.
REGISTER_WORDS = regmap.LOAD // 4 + 1
#: Held while a model is built: rtl_open hands the core's initial block its layer table
#: through a global of the harness (read by DPI), so two models are never built at once.
#: Built models share nothing (each its own VerilatedContext) and run in parallel.
OPEN_LOCK = threading.Lock()


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
        with OPEN_LOCK:
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

    @property
    def closed(self) -> bool:
        """Whether `close` has released the model (it cannot run after that)."""
        return self._handle is None

    def close(self) -> None:
        if self._handle is not None:
            self._lib.rtl_close(self._handle)
            self._handle = None

    def __del__(self) -> None:
        self.close()


class ZynqCore(VerilatorCore):
    """The Zynq top's simulation (build.ZYNQ_MODEL): the core behind its AXI4 master bridge,
    an AXI4 slave memory around it. After each pass the bridge's bus status is read back
    into the register file, where the driver reads it as it does on a board; a protocol
    violation the slave saw is an error of its own."""

    ip_type = "snapdeploy:rtl:lif_zynq_top:1.0"

    def __init__(self, library: Path, layer_table: np.ndarray):
        super().__init__(library, layer_table)
        self._lib.rtl_read_register.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
        self._lib.rtl_read_register.restype = ctypes.c_uint32
        self._lib.rtl_axi_stalls.argtypes = [ctypes.c_void_p, ctypes.c_uint64, ctypes.c_int]
        self._lib.rtl_axi_fail.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int64]
        self._lib.rtl_axi_latency.argtypes = [ctypes.c_void_p, ctypes.c_uint64]
        self._lib.rtl_violation.argtypes = [ctypes.c_void_p]
        self._lib.rtl_violation.restype = ctypes.c_char_p

    def ap_start(self, registers: np.ndarray) -> None:
        try:
            super().ap_start(registers)
        finally:
            self._check_protocol()
        for offset in (regmap.BUS_STATUS, regmap.BUS_ADDR, regmap.BUS_ADDR + 4):
            registers[offset // 4] = self._lib.rtl_read_register(self._handle, offset)

    def _check_protocol(self) -> None:
        violation = self._lib.rtl_violation(self._handle) if self._handle else b""
        if violation:
            raise BackendError(
                f"the AXI4 master of {self.source} broke the protocol: {violation.decode()}; "
                f"fix: report this with the partition's build directory"
            )

    def stalls(self, seed: int, percent: int) -> None:
        """From now on the slave drops each READY and holds back each VALID with
        probability percent / 100, drawn from a generator seeded with `seed`."""
        self._lib.rtl_axi_stalls(self._handle, seed, percent)

    def latency(self, cycles: int) -> None:
        """From now on each read burst's first beat and each write response come `cycles`
        cycles after their request at the soonest (a board's DDR behind its interconnect)."""
        self._lib.rtl_axi_latency(self._handle, cycles)

    def fail(self, write: bool, nth: int) -> None:
        """The slave answers SLVERR to the nth read beat (or write) from now on."""
        self._lib.rtl_axi_fail(self._handle, int(write), nth)


#: The simulated design of a device's part, where it is not the core alone: a PYNQ-Z2's
#: XC7Z020 holds the core behind its AXI4 master, as its block design does.
SIMULATIONS: dict[str, tuple[Model, type[VerilatorCore]]] = {"xc7z020": (ZYNQ_MODEL, ZynqCore)}


def simulation_for(part: str) -> tuple[Model, type[VerilatorCore]]:
    """The Verilator model a device on `part` is simulated as, and its core class."""
    return SIMULATIONS.get(part, (CORE_MODEL, VerilatorCore))


def rtl_overlay(
    library: Path,
    layer_table: np.ndarray,
    engines: frozenset[str],
    core_class: type[VerilatorCore] = VerilatorCore,
) -> tuple[EmulatedOverlay, VerilatorCore]:
    """An emulated overlay over a fresh simulation of the core (as `core_class` runs it, the
    library's design, built with `engines`), and that simulation; a layer table with a layer
    whose engine the core lacks is refused before the model starts."""
    check_engines(table_kinds(layer_table), engines, f"the RTL core {library}")
    core = core_class(library, layer_table)
    return EmulatedOverlay(core), core
