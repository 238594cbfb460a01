"""A PYNQ device and overlay with no FPGA behind them: the core runs as a simulation model.

Why: the driver must be the code that runs on a board, so pynq's own classes do the work —
`pynq.allocate` returns real `PynqBuffer`s, the overlay's IP is pynq's `DefaultIP` with its
`MMIO` — and only what a board provides is emulated:

- `EmulatedDevice` (a `pynq.Device`): the board's memory and the core's AXI-Lite register bus.
  Like pynq's `XrtDevice` it declares `REGISTER_RW`, so MMIO reads and writes arrive as
  `read_registers`/`write_registers`; setting ap_start hands the register file to the core's
  simulation model (the HLS C-simulation, or a cycle-accurate RTL simulation), and buffers
  have a separate device side that `flush`/`invalidate` copy to and from, so a driver that
  forgets to sync fails here as it would on a board.
- `EmulatedOverlay`: what `pynq.Overlay(bitfile)` gives, without a bitstream: its IP table
  comes from the core's register map instead of a .hwh file (`DeviceOverlay`, which a board
  reached by a byte link (`link_device.py`) shares).
"""

from __future__ import annotations

import ctypes
from typing import Any, Protocol

import numpy as np

from snapdeploy.backends.fpga import regmap
from snapdeploy.backends.fpga.pynq_api import DefaultIP, PynqBuffer, pynq
from snapdeploy.core.errors import BackendError

CORE_NAME = "lif_core_0"
#: Where Vivado's address editor puts the first AXI-Lite IP behind the Zynq's M_AXI_GP0.
CORE_BASE = 0x43C0_0000


class CoreModel(Protocol):
    """A simulation of the core: what happens between ap_start and ap_done."""

    #: The IP's VLNV, as a .hwh file would name it.
    ip_type: str
    #: What the model was built from (shown as the overlay's bitfile name).
    source: str

    def ap_start(self, registers: np.ndarray) -> None:
        """Run one ap_start..ap_done pass over the uint32 register file (and the memory its
        pointer registers address)."""

    def close(self) -> None:
        """Release the model now (on the thread that ran it), not whenever it is collected."""


class EmulatedMemory:
    """The emulated board's DDR: each buffer's device side is an array of its own."""

    def __init__(self, device: EmulatedDevice):
        self.device = device

    def allocate(self, shape: Any, dtype: Any, **kwargs: Any) -> PynqBuffer:
        """A zeroed PynqBuffer; `cacheable` and other placement options change nothing here."""
        host = np.zeros(shape, dtype=dtype)
        device_side = np.zeros(host.nbytes, dtype=np.uint8)
        return PynqBuffer(
            host.shape,
            host.dtype,
            buffer=host,
            device=self.device,
            device_address=device_side.ctypes.data,
            bo=device_side,
            coherent=False,
        )


class EmulatedDevice(pynq.Device):
    """One core's simulation model behind pynq's device interface."""

    def __init__(self, core: CoreModel):
        super().__init__("snapdeploy_emulated")
        self.capabilities = {"REGISTER_RW": True}
        self.default_memory = EmulatedMemory(self)
        self.core = core
        self._regs = np.zeros(regmap.RANGE // 4, dtype=np.uint32)

    def _offset(self, address: int, length: int) -> int:
        offset = address - CORE_BASE
        if offset < 0 or offset + length > regmap.RANGE or offset % 4:
            raise BackendError(
                f"register access at 0x{address:08x} (+{length} bytes) is outside the LIF "
                f"core's AXI-Lite range 0x{CORE_BASE:08x}+0x{regmap.RANGE:x} or unaligned"
            )
        return offset

    def read_registers(self, address: int, length: int) -> bytes:
        offset = self._offset(address, length)
        data = self._regs.view(np.uint8)[offset : offset + length].tobytes()
        if offset == regmap.CTRL:
            self._regs[0] &= ~np.uint32(regmap.AP_DONE)  # ap_done is clear-on-read
        return data

    def write_registers(self, address: int, data: bytes) -> None:
        offset = self._offset(address, len(data))
        self._regs.view(np.uint8)[offset : offset + len(data)] = np.frombuffer(data, np.uint8)
        if offset == regmap.CTRL and self._regs[0] & regmap.AP_START:
            self.core.ap_start(self._regs)
            self._regs[0] = regmap.AP_DONE | regmap.AP_IDLE | regmap.AP_READY

    def flush(self, bo: np.ndarray, offset: int, ptr: int, size: int) -> None:
        ctypes.memmove(bo.ctypes.data + offset, ptr, size)

    def invalidate(self, bo: np.ndarray, offset: int, ptr: int, size: int) -> None:
        ctypes.memmove(ptr, bo.ctypes.data + offset, size)


class DeviceOverlay:
    """Stands in for `pynq.Overlay(bitfile)` over a device of ours: `device`, `ip_dict` (the
    one LIF core at `base`), IP drivers by attribute."""

    def __init__(self, device: pynq.Device, bitfile_name: str, ip_type: str, base: int):
        self.device = device
        self.bitfile_name = bitfile_name
        self.ip_dict = {
            CORE_NAME: {
                "fullpath": CORE_NAME,
                "type": ip_type,
                "phys_addr": base,
                "addr_range": regmap.RANGE,
                "device": self.device,
                "driver": DefaultIP,
            }
        }

    def is_loaded(self) -> bool:
        return True

    def __getattr__(self, name: str) -> DefaultIP:
        if name in self.__dict__.get("ip_dict", {}):
            ip = DefaultIP(self.ip_dict[name])
            setattr(self, name, ip)
            return ip
        raise AttributeError(f"Could not find IP or hierarchy {name} in overlay")

    def free(self) -> None:
        """Nothing to release: this overlay inserted no device tree overlay."""


class EmulatedOverlay(DeviceOverlay):
    """The overlay of a core's simulation model on the emulated device."""

    def __init__(self, core: CoreModel):
        super().__init__(EmulatedDevice(core), core.source, core.ip_type, CORE_BASE)

    def free(self) -> None:
        """Close the core's model, as `pynq.Overlay.free` lets a board's bitstream go."""
        self.device.core.close()
