"""The host side of a board top's UART link: the LIF core's registers and buffers over bytes.

A board without a processor of its own (the ULX3S: an ECP5 and a USB-serial bridge; the
iCEBreaker: an iCE40 UP5K and one) runs the core behind `rtl/core/lif_board.v`, which
answers a byte protocol: 9-byte headers (command, 32-bit address, 32-bit argument,
little-endian) to write or read an AXI-Lite register or a run of 32-bit words of the buffer
memory. `BoardLink` speaks it over any byte stream: a
serial port on a real board (`SerialStream`), or the pipes of the board top's Verilator
simulation (`PipeStream`), so the same host code runs against either. A stream that closes
or stops answering is a `BoardLinkLost` naming the stream, never a hang.
"""

from __future__ import annotations

import os
import select
import struct
import subprocess
import termios
import time
import tty
from pathlib import Path
from typing import Protocol

from snapdeploy.core.errors import BackendError

WRITE_REG, READ_REG, WRITE_MEM, READ_MEM = 0x01, 0x02, 0x03, 0x04
ACK, NAK = 0x06, 0x15
HEADER = struct.Struct("<BII")
#: How long a reply may take; the longest is a buffer read at the link's byte rate.
REPLY_TIMEOUT_S = 10.0
#: The board tops' UART rate: 25 clocks per bit on the ULX3S's 25 MHz, 12 on the
#: iCEBreaker's 12 MHz (lif_board.v's CLOCKS_PER_BIT).
BAUD = 1_000_000


class BoardLinkLost(BackendError):
    """The byte link to a board closed or stopped answering."""


class ByteStream(Protocol):
    """A two-way byte stream to a board."""

    name: str

    def write(self, data: bytes) -> None: ...

    def read(self, size: int, timeout: float) -> bytes:
        """Exactly `size` bytes; `BoardLinkLost` when they do not come within `timeout`."""

    def close(self) -> None: ...


class _FdStream:
    """Reads and writes over file descriptors, waiting with select."""

    name: str

    def __init__(self, name: str, read_fd: int, write_fd: int):
        self.name = name
        self._read_fd = read_fd
        self._write_fd = write_fd

    def _lost(self, what: str) -> BoardLinkLost:
        return BoardLinkLost(
            f"the link to {self.name} {what}; fix: check the board is powered, programmed with "
            f"the partition's board bitstream and connected, then open it again"
        )

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                written = os.write(self._write_fd, view)
            except OSError as exc:
                raise self._lost(f"refused a write ({exc.strerror})") from exc
            view = view[written:]

    def read(self, size: int, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        chunks, left = [], size
        while left:
            wait = deadline - time.monotonic()
            if wait <= 0 or not select.select([self._read_fd], [], [], wait)[0]:
                raise self._lost(f"sent {size - left} of {size} bytes within {timeout:g} s")
            try:
                chunk = os.read(self._read_fd, left)
            except OSError as exc:
                raise self._lost(f"failed a read ({exc.strerror})") from exc
            if not chunk:
                raise self._lost("closed")
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)


class PipeStream(_FdStream):
    """The stdin/stdout of a process that speaks the protocol (the board's simulation)."""

    def __init__(self, command: list[str], cwd: Path):
        self.process = subprocess.Popen(
            command, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        super().__init__(
            f"{Path(command[0]).name} (pid {self.process.pid})",
            self.process.stdout.fileno(),
            self.process.stdin.fileno(),
        )

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()  # the simulation exits when its input closes
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process.stdout.close()


class SerialStream(_FdStream):
    """A serial port (the board's USB-serial bridge) in raw mode at `baud`."""

    def __init__(self, device: str, baud: int = BAUD):
        try:
            fd = os.open(device, os.O_RDWR | os.O_NOCTTY)
        except OSError as exc:
            raise BoardLinkLost(
                f"cannot open {device} ({exc.strerror}); fix: plug the board in and name its "
                f"serial port in the target (serial = ...)"
            ) from exc
        tty.setraw(fd)
        attributes = termios.tcgetattr(fd)
        speed = getattr(termios, f"B{baud}")
        attributes[4] = attributes[5] = speed
        termios.tcsetattr(fd, termios.TCSANOW, attributes)
        super().__init__(device, fd, fd)
        self._fd = fd

    def close(self) -> None:
        os.close(self._fd)


class BoardLink:
    """The core's AXI-Lite registers and the board's buffer memory, over a byte stream."""

    def __init__(self, stream: ByteStream, timeout: float = REPLY_TIMEOUT_S):
        self.stream = stream
        self.timeout = timeout

    def _send(self, command: int, address: int, argument: int, payload: bytes = b"") -> None:
        self.stream.write(HEADER.pack(command, address, argument) + payload)

    def _ack(self, what: str) -> None:
        reply = self.stream.read(1, self.timeout)[0]
        if reply != ACK:
            raise BoardLinkLost(
                f"{self.stream.name} answered {what} with 0x{reply:02x}, not ACK; fix: check the "
                f"board runs the partition's board bitstream (its protocol differs)"
            )

    def write_register(self, offset: int, value: int) -> None:
        self._send(WRITE_REG, offset, value & 0xFFFF_FFFF)
        self._ack(f"a register write at 0x{offset:x}")

    def read_register(self, offset: int) -> int:
        self._send(READ_REG, offset, 0)
        return int.from_bytes(self.stream.read(4, self.timeout), "little")

    def write_memory(self, address: int, data: bytes) -> None:
        """Write `data` (a whole number of 32-bit words) at byte `address`."""
        words = len(data) // 4
        self._send(WRITE_MEM, address, words, data)
        self._ack(f"a {len(data)}-byte buffer write at 0x{address:x}")

    def read_memory(self, address: int, size: int) -> bytes:
        """`size` bytes (a whole number of 32-bit words) from byte `address`."""
        words = size // 4
        self._send(READ_MEM, address, words)
        return self.stream.read(4 * words, self.timeout)

    def close(self) -> None:
        self.stream.close()
