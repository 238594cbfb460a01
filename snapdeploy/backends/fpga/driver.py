"""Host code of the LIF core, the same on a PYNQ board and on the simulation of the core.

It uses only pynq's public interface: the overlay's IP driver (`DefaultIP.write`/`read` on
the AXI-Lite registers), `pynq.allocate` for buffers the core reads and writes by AXI
master, and the buffers' `device_address`, `flush` and `invalidate`. On a board the overlay
is `pynq.Overlay(bitfile)`; without one it is `overlay.EmulatedOverlay`.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from snapdeploy.backends.fpga import regmap
from snapdeploy.backends.fpga.overlay import CORE_NAME
from snapdeploy.backends.fpga.pynq_api import PynqBuffer, pynq
from snapdeploy.core.errors import BackendError

#: How long to wait for ap_done; the largest core the targets allow needs milliseconds.
DONE_TIMEOUT_S = 10.0


class MemoryBusError(BackendError):
    """The core's AXI4 master was answered with an error (or asked something misaligned):
    the pass's outputs are not to be trusted."""

    def __init__(self, ip_name: str, status: int, address_lo: int, address_hi: int):
        address = address_lo | address_hi << 32
        what = [
            name
            for bit, name in (
                (regmap.BUS_READ_ERROR, "a read"),
                (regmap.BUS_WRITE_ERROR, "a write"),
                (regmap.BUS_MISALIGNED, "a misaligned request"),
            )
            if status & bit
        ]
        response = {2: "SLVERR", 3: "DECERR"}.get(
            status >> regmap.BUS_RESP_SHIFT & 3, "no error response"
        )
        super().__init__(
            f"LIF core '{ip_name}' failed on its memory bus: {' and '.join(what)} (first at "
            f"0x{address:x}, {response}); its spikes and state from this run are not valid; "
            f"fix: allocate every buffer with pynq.allocate (memory the PL reaches through "
            f"S_AXI_HP0) and check that the block design maps the core's m_axi_gmem onto DDR"
        )
        self.status = status
        self.address = address


class LifCoreDriver:
    """Loads parameters into one LIF core and runs batches of spike frames through it."""

    def __init__(self, overlay: Any, ip_name: str = CORE_NAME):
        self.overlay = overlay
        self.ip = getattr(overlay, ip_name)
        self.ip_name = ip_name

    def allocate(self, shape: tuple[int, ...], dtype: Any) -> PynqBuffer:
        """A buffer the core can reach by AXI master, on the overlay's device."""
        return pynq.allocate(shape, dtype, target=self.overlay.device)

    def load_params(self, image: np.ndarray) -> None:
        """Write the parameter image into the core's on-chip memories (its `load` pass)."""
        params = self.allocate(image.shape, np.int32)
        params[:] = image
        params.flush()
        self._set_pointer(regmap.PARAMS, params)
        self._start(steps=0, batch=0, load=1)

    def run(self, spikes_in: PynqBuffer, spikes_out: PynqBuffer, state: PynqBuffer) -> None:
        """Run `spikes_in` [batch, T, words] from `state`; fill `spikes_out`, update `state`."""
        batch, steps = spikes_in.shape[:2]
        spikes_in.flush()
        state.flush()
        self._set_pointer(regmap.SPIKES_IN, spikes_in)
        self._set_pointer(regmap.SPIKES_OUT, spikes_out)
        self._set_pointer(regmap.STATE, state)
        self._start(steps=steps, batch=batch, load=0)
        spikes_out.invalidate()
        state.invalidate()

    def _set_pointer(self, offset: int, buffer: PynqBuffer) -> None:
        address = int(buffer.device_address)
        self.ip.write(offset, address & 0xFFFF_FFFF)
        self.ip.write(offset + 4, address >> 32)

    def _start(self, steps: int, batch: int, load: int) -> None:
        self.ip.write(regmap.STEPS, steps)
        self.ip.write(regmap.BATCH, batch)
        self.ip.write(regmap.LOAD, load)
        self.ip.write(regmap.CTRL, regmap.AP_START)
        deadline = time.monotonic() + DONE_TIMEOUT_S
        while not self.ip.read(regmap.CTRL) & regmap.AP_DONE:
            if time.monotonic() > deadline:
                raise BackendError(
                    f"LIF core '{self.ip_name}' did not finish within {DONE_TIMEOUT_S} s; "
                    f"fix: check that the loaded bitstream was built from this partition's "
                    f"sources (bitstreams/manifest.json) and that the PL clock is running"
                )
        status = self.ip.read(regmap.BUS_STATUS)
        if status:
            raise MemoryBusError(
                self.ip_name,
                status,
                self.ip.read(regmap.BUS_ADDR),
                self.ip.read(regmap.BUS_ADDR + 4),
            )
