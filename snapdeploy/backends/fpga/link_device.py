"""A board reached by a byte link, behind pynq's device interface, so `LifCoreDriver` runs it.

As `overlay.EmulatedDevice` does for a simulation model, `LinkDevice` declares
`REGISTER_RW`: the driver's MMIO reads and writes of the core's registers become link
register commands; `pynq.allocate` places buffers in the board's buffer memory (addresses
are byte offsets there, what the core's pointer registers hold), and a buffer's
`flush`/`invalidate` copies it over the link. Nothing in that memory is set by the
bitstream (the UP5K's SPRAM never is): every buffer the core reads is written over the link
first. Its size is the board top's (lif_board.v's BUFFER_WORDS 64-bit words: 64 KB of block
RAM on the ULX3S, 128 KB of SPRAM on the iCEBreaker).
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np

from snapdeploy.backends.fpga.link import BoardLink
from snapdeploy.backends.fpga.overlay import DeviceOverlay
from snapdeploy.backends.fpga.pynq_api import PynqBuffer, pynq
from snapdeploy.core.errors import BackendError, CapacityError

#: Buffers start on 8-byte boundaries (the state buffer's words are 64-bit).
ALIGN = 8


class LinkMemory:
    """Places buffers one after another in the board's buffer memory, until `free`."""

    def __init__(self, device: LinkDevice, size: int):
        self.device = device
        self.size = size
        self.used = 0

    def allocate(self, shape: Any, dtype: Any, **kwargs: Any) -> PynqBuffer:
        host = np.zeros(shape, dtype=dtype)
        start = self.used
        if host.nbytes % 4 or start + host.nbytes > self.size:
            raise CapacityError(
                f"a {host.nbytes}-byte buffer {tuple(host.shape)} of {host.dtype} does not fit "
                f"the board's buffer memory ({self.size - start} of its {self.size} bytes free, "
                f"whole 32-bit words only); fix: run fewer steps or batch items per call, or "
                f"use a board with more buffer memory"
            )
        self.used = start + -(-host.nbytes // ALIGN) * ALIGN
        return PynqBuffer(
            host.shape,
            host.dtype,
            buffer=host,
            device=self.device,
            device_address=start,
            bo=start,
            coherent=False,
        )

    def free(self) -> None:
        self.used = 0


class LinkDevice(pynq.Device):
    """The core's registers and the board's memory over `link`."""

    def __init__(self, link: BoardLink, buffer_bytes: int):
        super().__init__(f"snapdeploy_link:{link.stream.name}")
        self.capabilities = {"REGISTER_RW": True}
        self.default_memory = LinkMemory(self, buffer_bytes)
        self.link = link

    @staticmethod
    def _words(address: int, length: int) -> range:
        if address % 4 or length % 4:
            raise BackendError(
                f"register access at 0x{address:x} (+{length} bytes) is not whole 32-bit "
                f"registers; fix: read and write the core's registers as 32-bit words"
            )
        return range(address, address + length, 4)

    def read_registers(self, address: int, length: int) -> bytes:
        return b"".join(
            self.link.read_register(word).to_bytes(4, "little")
            for word in self._words(address, length)
        )

    def write_registers(self, address: int, data: bytes) -> None:
        for word in self._words(address, len(data)):
            offset = word - address
            self.link.write_register(word, int.from_bytes(data[offset : offset + 4], "little"))

    def flush(self, bo: int, offset: int, ptr: int, size: int) -> None:
        self.link.write_memory(bo + offset, ctypes.string_at(ptr, size))

    def invalidate(self, bo: int, offset: int, ptr: int, size: int) -> None:
        ctypes.memmove(ptr, self.link.read_memory(bo + offset, size), size)


class LinkOverlay(DeviceOverlay):
    """What `pynq.Overlay(bitfile)` gives for a board reached by a byte link: the core's
    registers at offset 0 of the link's register space, `buffer_bytes` of buffer memory.
    `free` releases the buffers and closes the link."""

    def __init__(self, link: BoardLink, name: str, ip_type: str, buffer_bytes: int):
        super().__init__(LinkDevice(link, buffer_bytes), name, ip_type, 0)

    def free(self) -> None:
        self.device.default_memory.free()
        self.device.link.close()
