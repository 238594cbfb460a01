"""Spike packet codec: how spikes cross a partition boundary.

A boundary carries, for each time step, which neurons of each sample spiked. One *frame*
holds one time step of a block of consecutive samples, so its header is paid once per block
rather than once per sample, and a pipelined sender can ship step t as soon as it exists.
The payload is whichever is smallest: a plain bitmap of the block, or the gaps between
spikes Golomb-Rice coded (within a few percent of the entropy of random spikes, so the bytes
on a link follow the spike rate, not the layer width), each either of the spikes themselves
or of their change since the previous step of the same samples (a *delta* frame: neurons
driven by a steady input spike in regular patterns, so the change is often sparser). The same bytes serve the in-process
transport, torch.distributed and board drivers; the format is fixed and little-endian.

Wire format of one frame::

    header, 25 bytes, struct "<BBHHIHBIII":
        version      u8    2 (1 was the per-sample packet of 17-byte headers)
        encoding     u8    0 = BITMAP, 1 = RICE; plus 0x80 (DELTA) when the cells coded
                           are spikes XOR the previous step's spikes of the same samples
        boundary_id  u16   which boundary of the plan the frame belongs to
        step         u16   time step (at most 65536 steps per run window)
        first_batch  u32   index of the frame's first sample within the batch
        rows         u16   samples in the frame (1..65535)
        rice_k       u8    Rice parameter (0..31); 0 for BITMAP
        count        u32   spikes in the frame
        length       u32   payload bytes
        crc32        u32   zlib.crc32 of the header with this field zeroed, then the payload
    payload, over the frame's rows * n_neurons cells in row-major order (sample, neuron):
        BITMAP  ceil(cells / 8) bytes; cell i is bit i % 8 of byte i // 8 (np.packbits with
                bitorder="little"); bits past the last cell are zero
        RICE    with gaps g_j = p_j - p_{j-1} - 1 between spiking cells p_0 < p_1 < ... (and
                p_{-1} = -1): first count * k bits, the low k bits of each gap, most
                significant first; then for each gap (g_j >> k) one-bits and a zero-bit;
                bit order and zero padding as for BITMAP

A delta frame is decoded against the decoded previous step of the same block, so the frames
of one block must be decoded in step order (transports keep each link's order; step 0 is
never a delta). `length` lets a stream of frames be split without other framing (`iter_frames`). The CRC
covers the header too, so a corrupted step, batch or encoding is caught, not only a
corrupted payload; every decoded frame is checked (length, CRC, counts, cells in range), so a
bad frame is an error naming where it came from, never spikes silently used.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from snapdeploy.core.errors import PacketError

VERSION = 2
HEADER = struct.Struct("<BBHHIHBIII")
HEADER_SIZE = HEADER.size
_CRC_OFFSET = HEADER_SIZE - 4

_U16_MAX = 0xFFFF
_U32_MAX = 0xFFFFFFFF
MAX_ROWS = _U16_MAX
_MAX_K = 31
DELTA = 0x80


class Encoding(IntEnum):
    """How a frame's payload lists the cells that spiked."""

    BITMAP = 0
    RICE = 1


@dataclass(frozen=True)
class FrameHeader:
    """The decoded header of one frame (the CRC is checked, so it is not kept)."""

    boundary_id: int
    step: int
    first_batch: int
    rows: int
    encoding: Encoding
    delta: bool
    rice_k: int
    count: int
    length: int

    def where(self) -> str:
        last = self.first_batch + self.rows - 1
        return f"boundary {self.boundary_id} step {self.step} samples {self.first_batch}..{last}"


def bitmap_size(cells: int) -> int:
    return (cells + 7) // 8


def _gaps(positions: np.ndarray) -> np.ndarray:
    return np.diff(positions, prepend=-1) - 1


def _rice_bits(gaps: np.ndarray) -> tuple[int, int]:
    """The Rice parameter with the fewest bits for these gaps, and that bit count."""
    if len(gaps) == 0:
        return 0, 0
    top = max(int(gaps.max()).bit_length(), 1)
    costs = [(int((gaps >> k).sum()) + len(gaps) * (1 + k), k) for k in range(min(top, _MAX_K) + 1)]
    bits, k = min(costs)
    return k, bits


def expected_frame_bytes(n_neurons: int, rows: int, rate: float) -> float:
    """Expected bytes of a frame whose cells spike independently at `rate` (plan estimates).

    Gaps are then geometric, and E[g >> k] = q / (1 - q) with q = (1 - rate) ** (2 ** k).
    """
    cells = rows * n_neurons
    count = rate * cells
    if rate <= 0.0 or count == 0:
        return float(HEADER_SIZE)
    if rate >= 1.0:
        rice = cells / 8
    else:
        rice = min(
            count * (1 + k + q / (1 - q)) / 8
            for k in range(_MAX_K + 1)
            for q in [(1.0 - rate) ** (2**k)]
        )
    return HEADER_SIZE + min(rice, float(bitmap_size(cells)))


def encode_frame(
    boundary_id: int,
    step: int,
    first_batch: int,
    spikes: np.ndarray,
    previous: np.ndarray | None = None,
) -> bytes:
    """One frame for bool [rows, n] spikes of one step; the smallest payload is chosen.

    `previous` (the same samples' spikes at step - 1) allows a delta frame; the receiver
    then needs that step decoded first.
    """
    _check_field("boundary_id", boundary_id, _U16_MAX)
    _check_field("step", step, _U16_MAX)
    spikes = _as_spikes(spikes, ndim=2, shape_name="[rows, n]")
    rows = spikes.shape[0]
    if not 1 <= rows <= MAX_ROWS:
        raise PacketError(
            f"a frame holds 1..{MAX_ROWS} samples, got {rows}; split the batch into blocks"
        )
    _check_field("first_batch", first_batch, _U32_MAX - rows + 1)
    candidates = [(0, spikes.reshape(-1))]
    if previous is not None:
        previous = _as_spikes(previous, ndim=2, shape_name="[rows, n]")
        if previous.shape != spikes.shape:
            raise PacketError(
                f"previous step has shape {previous.shape} but the spikes {spikes.shape}; "
                f"pass the same samples' spikes of step {step - 1}"
            )
        candidates.append((DELTA, (spikes ^ previous).reshape(-1)))
    flag, (encoding, k, count, payload) = min(
        ((flag, _smallest_payload(flat)) for flag, flat in candidates),
        key=lambda option: len(option[1][3]),
    )
    fields = (
        VERSION,
        encoding | flag,
        boundary_id,
        step,
        first_batch,
        rows,
        k,
        count,
        len(payload),
    )
    crc = zlib.crc32(payload, zlib.crc32(HEADER.pack(*fields, 0)))
    return HEADER.pack(*fields, crc) + payload


def _smallest_payload(flat: np.ndarray) -> tuple[Encoding, int, int, bytes]:
    """(encoding, rice_k, count, payload) of the smaller of Rice and bitmap for these cells."""
    positions = np.flatnonzero(flat)
    gaps = _gaps(positions)
    k, rice_bits = _rice_bits(gaps)
    if bitmap_size(rice_bits) < bitmap_size(flat.size):
        return Encoding.RICE, k, len(positions), _rice_payload(gaps, k)
    return Encoding.BITMAP, 0, len(positions), np.packbits(flat, bitorder="little").tobytes()


def _rice_payload(gaps: np.ndarray, k: int) -> bytes:
    """Remainder bits of every gap, then the quotients in unary (see the module docstring)."""
    count = len(gaps)
    remainders = ((gaps[:, None] >> np.arange(k - 1, -1, -1)) & 1).astype(bool).reshape(-1)
    quotients = gaps >> k
    unary = np.ones(int(quotients.sum()) + count, dtype=bool)
    unary[np.cumsum(quotients + 1) - 1] = False
    return np.packbits(np.concatenate([remainders, unary]), bitorder="little").tobytes()


def read_header(data: bytes | memoryview) -> FrameHeader:
    """Parse a header, refusing a buffer too short for one, another version or encoding."""
    view = memoryview(data).cast("B")
    if len(view) < HEADER_SIZE:
        raise PacketError(
            f"frame is {len(view)} bytes, shorter than its {HEADER_SIZE}-byte header; "
            f"it was truncated"
        )
    version, code, boundary_id, step, first_batch, rows, k, count, length, _ = HEADER.unpack_from(
        view
    )
    if version != VERSION:
        raise PacketError(
            f"frame (as read) has format version {version}, this codec speaks {VERSION}; the "
            f"link corrupted it or the sender runs another snapdeploy version"
        )
    try:
        encoding = Encoding(code & ~DELTA)
    except ValueError:
        raise PacketError(
            f"frame boundary {boundary_id} step {step} (as read) has unknown encoding {code} "
            f"(known: 0 BITMAP, 1 RICE, each + 0x80 DELTA); the link corrupted it"
        ) from None
    delta = bool(code & DELTA)
    return FrameHeader(boundary_id, step, first_batch, rows, encoding, delta, k, count, length)


def decode_frame(
    data: bytes | memoryview, n_neurons: int, previous: np.ndarray | None = None
) -> tuple[FrameHeader, np.ndarray]:
    """Check one frame (length, CRC, payload) and return its header and bool [rows, n] spikes.

    A delta frame needs `previous`, the same samples' decoded spikes of the step before.
    """
    view = memoryview(data).cast("B")
    header = read_header(view)
    where = header.where()
    if len(view) != HEADER_SIZE + header.length:
        raise PacketError(
            f"frame {where} is {len(view)} bytes but its header says {HEADER_SIZE} + "
            f"{header.length}; it was truncated or the link corrupted it"
        )
    (crc,) = struct.unpack_from("<I", view, _CRC_OFFSET)
    payload = view[HEADER_SIZE:]
    actual = zlib.crc32(payload, zlib.crc32(b"\0\0\0\0", zlib.crc32(view[:_CRC_OFFSET])))
    if actual != crc:
        raise PacketError(
            f"frame {where} (as read) failed its CRC32 check (stored 0x{crc:08x}, computed "
            f"0x{actual:08x}): the link corrupted it; resend it or check the transport"
        )
    cells = header.rows * n_neurons
    if header.rows == 0 or header.count > cells:
        raise PacketError(
            f"frame {where} has {header.rows} rows and {header.count} spikes, impossible for "
            f"{n_neurons} neurons; the sender used another n_neurons"
        )
    bits = np.unpackbits(np.frombuffer(payload, dtype=np.uint8), bitorder="little").view(bool)
    if header.encoding is Encoding.BITMAP:
        flat = _decode_bitmap(bits, cells, header, where)
    else:
        flat = _decode_rice(bits, cells, header, where)
    block = flat.reshape(header.rows, n_neurons)
    if not header.delta:
        return header, block
    if previous is None or previous.shape != block.shape:
        raise PacketError(
            f"frame {where} is a delta of step {header.step - 1}, which was not decoded for "
            f"these samples; the transport reordered or lost frames"
        )
    return header, block ^ previous


def _decode_bitmap(bits: np.ndarray, cells: int, header: FrameHeader, where: str) -> np.ndarray:
    if len(bits) != 8 * bitmap_size(cells) or bits[cells:].any():
        raise PacketError(
            f"frame {where} has a {len(bits) // 8}-byte bitmap for {cells} cells (needs "
            f"{bitmap_size(cells)} with zero padding); the sender used another n_neurons"
        )
    flat = bits[:cells]
    set_bits = int(np.count_nonzero(flat))
    if set_bits != header.count:
        raise PacketError(
            f"frame {where} says {header.count} spikes but its bitmap sets {set_bits}"
        )
    return flat


def _decode_rice(bits: np.ndarray, cells: int, header: FrameHeader, where: str) -> np.ndarray:
    count, k = header.count, header.rice_k
    if k > _MAX_K or count * k > len(bits):
        raise PacketError(f"frame {where} has Rice parameter {k} that its payload cannot hold")
    weights = (1 << np.arange(k - 1, -1, -1)).astype(np.int64)
    remainders = bits[: count * k].reshape(count, k).astype(np.int64) @ weights
    unary = bits[count * k :]
    zeros = np.flatnonzero(~unary)
    padding = unary[zeros[count - 1] + 1 :] if 0 < count <= len(zeros) else unary
    if len(zeros) < count or padding.any():
        raise PacketError(
            f"frame {where} does not hold exactly {count} Rice codes and zero padding"
        )
    ends = zeros[:count]
    quotients = np.diff(ends, prepend=-1) - 1
    positions = np.cumsum((quotients << k) + remainders + 1) - 1
    if len(positions) and positions[-1] >= cells:
        raise PacketError(
            f"frame {where} codes a spike at cell {positions[-1]} of its {cells} cells"
        )
    flat = np.zeros(cells, dtype=bool)
    flat[positions] = True
    return flat


def encode_steps(boundary_id: int, spikes: np.ndarray, first_batch: int = 0) -> list[bytes]:
    """Frames for bool [T, batch, n] spikes: one per step (per block of MAX_ROWS samples)."""
    spikes = _as_spikes(spikes, ndim=3, shape_name="[T, batch, n]")
    steps, batch, _ = spikes.shape
    if steps > _U16_MAX + 1:
        raise PacketError(
            f"spikes has {steps} time steps but the frame step field is u16 (at most "
            f"{_U16_MAX + 1} steps); send the run in windows of at most {_U16_MAX + 1} steps"
        )
    return [
        encode_frame(
            boundary_id,
            t,
            first_batch + start,
            spikes[t, block],
            spikes[t - 1, block] if t else None,
        )
        for t in range(steps)
        for start in range(0, batch, MAX_ROWS)
        for block in [slice(start, start + MAX_ROWS)]
    ]


def decode_steps(
    frames: Iterable[bytes],
    n_neurons: int,
    steps: int,
    batch: int,
    boundary_id: int | None = None,
    first_batch: int = 0,
) -> np.ndarray:
    """Reassemble bool [T, batch, n] spikes; every (step, sample) must arrive exactly once,
    each block's steps in order (delta frames build on the step before)."""
    spikes = np.zeros((steps, batch, n_neurons), dtype=bool)
    seen = np.zeros((steps, batch), dtype=bool)
    for frame in frames:
        header = read_header(frame)
        where = header.where()
        if boundary_id is not None and header.boundary_id != boundary_id:
            raise PacketError(
                f"frame {where} belongs to boundary {header.boundary_id}, expected boundary "
                f"{boundary_id}; the transport mixed up its links"
            )
        lo = header.first_batch - first_batch
        if header.step >= steps or lo < 0 or lo + header.rows > batch:
            raise PacketError(
                f"frame {where} is outside the expected {steps} steps x samples "
                f"{first_batch}..{first_batch + batch - 1}"
            )
        rows = slice(lo, lo + header.rows)
        if seen[header.step, rows].any():
            raise PacketError(f"frame {where} arrived twice; the transport duplicated it")
        before = header.step - 1
        previous = spikes[before, rows] if before >= 0 and seen[before, rows].all() else None
        _, block = decode_frame(frame, n_neurons, previous)
        seen[header.step, rows] = True
        spikes[header.step, rows] = block
    missing = np.argwhere(~seen)
    if len(missing):
        shown = ", ".join(f"(step {t}, sample {first_batch + b})" for t, b in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise PacketError(
            f"{len(missing)} (step, sample) cells never arrived: {shown}{more}; the transport "
            f"lost frames"
        )
    return spikes


def iter_frames(stream: bytes | memoryview) -> Iterator[bytes]:
    """Split a concatenation of frames (stream transports), using each header's length."""
    view = memoryview(stream).cast("B")
    offset = 0
    while offset < len(view):
        header = read_header(view[offset:])
        size = HEADER_SIZE + header.length
        if offset + size > len(view):
            raise PacketError(
                f"stream ends inside frame {header.where()} at byte {offset}: it needs "
                f"{size} bytes, {len(view) - offset} remain; the stream was truncated"
            )
        yield bytes(view[offset : offset + size])
        offset += size


def _check_field(name: str, value: int, limit: int) -> None:
    if not 0 <= value <= limit:
        raise PacketError(
            f"{name} {value} does not fit its header field (0..{limit}); "
            f"keep {name} within that range"
        )


def _as_spikes(spikes: np.ndarray, ndim: int, shape_name: str) -> np.ndarray:
    """The spikes as a bool array of the expected rank; anything else is a caller's mistake."""
    spikes = np.asarray(spikes)
    if spikes.dtype != np.bool_ or spikes.ndim != ndim:
        raise PacketError(
            f"spikes must be a bool array {shape_name}, got {spikes.dtype} with shape "
            f"{spikes.shape}; convert with spikes.astype(bool)"
        )
    return spikes
