"""The HLS core's C-simulation as the emulated overlay's core model.

The library is the core's own HLS C++ built with g++ (`build.py`); `csim_ap_start` runs the
top function on the register file, exactly as the synthesized core would run one ap_start.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np

from snapdeploy.backends.base import CompiledPartition
from snapdeploy.backends.fpga.overlay import EmulatedOverlay
from snapdeploy.backends.hls.build import LIBRARY
from snapdeploy.core.errors import BackendError

#: What the library's csim_shape reports: N_IN, N_OUT, N_NEURONS, IMAGE_WORDS, REG_RANGE.
SHAPE_FIELDS = ("n_in", "n_out", "n_neurons", "image_words", "register_range")


class CsimCore:
    """One LIF core's C-simulation library, loaded with ctypes."""

    ip_type = "snapdeploy:hls:lif_core:1.0"

    def __init__(self, library: Path):
        self.source = str(library)
        self._lib = ctypes.CDLL(str(library))
        self._lib.csim_ap_start.argtypes = [ctypes.c_void_p]
        self._lib.csim_ap_start.restype = None
        values = (ctypes.c_int32 * len(SHAPE_FIELDS))()
        self._lib.csim_shape(values)
        self.shape = dict(zip(SHAPE_FIELDS, values))

    def ap_start(self, registers: np.ndarray) -> None:
        self._lib.csim_ap_start(registers.ctypes.data)

    def close(self) -> None:
        """Nothing to release: the C-simulation's state lives in the loaded library."""


def csim_overlay(compiled: CompiledPartition, sources_dir: str) -> EmulatedOverlay:
    """The overlay of a compiled partition's C-simulation, checked against the partition."""
    library = compiled.path / sources_dir / LIBRARY
    if not library.is_file():
        raise BackendError(f"{library} is missing; fix: compile the partition again")
    core = CsimCore(library)
    expected = {
        "n_in": compiled.n_in,
        "n_out": compiled.n_out,
        "n_neurons": compiled.meta["neurons"],
    }
    built = {key: core.shape[key] for key in expected}
    if built != expected:
        raise BackendError(
            f"{library} was built for {built} but partition '{compiled.partition}' has "
            f"{expected}; fix: compile the partition again"
        )
    return EmulatedOverlay(core)
