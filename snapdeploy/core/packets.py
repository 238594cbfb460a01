"""Spike packet codec: how spikes cross a partition boundary.

A boundary between two partitions carries, for each time step and each sample of the
batch, the set of neurons that spiked. Sparse steps are cheapest as a list of neuron ids
(AER, address-event representation); dense steps are cheapest as one bit per neuron. The
encoder picks whichever is smaller for each packet, so the bytes on a link follow the
spike rate rather than the layer width. The same bytes serve the in-process transport,
torch.distributed and board drivers, so the format is fixed and little-endian.

Wire format of one packet (all integers little-endian)::

    header, 17 bytes, struct "<HHIBII":
        boundary_id  u16   which boundary of the plan the packet belongs to
        step         u16   time step (so at most 65536 steps per run window)
        batch        u32   index of the sample within the batch
        encoding     u8    0 = AER16, 1 = AER32, 2 = BITMAP
        count        u32   number of spikes in the packet
        crc32        u32   zlib.crc32 of the header with this field zeroed, then the payload
    payload:
        AER16   count neuron ids as u16, strictly increasing (needs n_neurons <= 65536)
        AER32   count neuron ids as u32, strictly increasing
        BITMAP  ceil(n_neurons / 8) bytes, bit i of the layer at byte i // 8, bit i % 8
                (np.packbits with bitorder="little"); bits past n_neurons are zero

The packet carries no length field: both ends know n_neurons of the boundary, and the
length follows from the header (AER: count * id size; bitmap: ceil(n / 8)). That keeps the
header small and lets a stream of packets be split without framing (`iter_packets`).
The CRC covers the header too, so a corrupted step, batch or encoding is caught, not only
a corrupted payload. The automatic choice takes the AER encoding that can address n
neurons when its payload is strictly smaller than the bitmap, else the bitmap.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from snapdeploy.core.errors import PacketError

HEADER = struct.Struct("<HHIBII")
HEADER_SIZE = HEADER.size
_CRC_OFFSET = HEADER_SIZE - 4

_U16_MAX = 0xFFFF
_U32_MAX = 0xFFFFFFFF


class Encoding(IntEnum):
    """How a packet's payload lists the neurons that spiked."""

    AER16 = 0
    AER32 = 1
    BITMAP = 2


_ID_DTYPE = {Encoding.AER16: np.dtype("<u2"), Encoding.AER32: np.dtype("<u4")}
# The largest layer each AER encoding can address (ids 0 .. limit - 1).
_AER_NEURON_LIMIT = {Encoding.AER16: _U16_MAX + 1, Encoding.AER32: _U32_MAX + 1}


@dataclass(frozen=True)
class PacketHeader:
    """The decoded header of one packet (the CRC is checked, so it is not kept)."""

    boundary_id: int
    step: int
    batch: int
    encoding: Encoding
    count: int


def payload_size(encoding: Encoding, n_neurons: int, count: int) -> int:
    """Bytes after the header; refuses an AER encoding whose ids cannot address n_neurons."""
    _check_counts(n_neurons, count)
    if encoding == Encoding.BITMAP:  # == so a plain int code works too
        return _bitmap_size(n_neurons)
    limit = _AER_NEURON_LIMIT[encoding]
    if n_neurons > limit:
        raise PacketError(
            f"encoding {encoding.name} addresses at most {limit} neurons but the boundary has "
            f"{n_neurons}; use {_aer_for(n_neurons).name} or BITMAP"
        )
    return count * _ID_DTYPE[encoding].itemsize


def choose_encoding(n_neurons: int, count: int) -> Encoding:
    """The encoding with the smallest payload; the bitmap wins ties (fixed size, no sort)."""
    aer = _aer_for(n_neurons)
    if payload_size(aer, n_neurons, count) < _bitmap_size(n_neurons):
        return aer
    return Encoding.BITMAP


def packet_size(n_neurons: int, count: int) -> int:
    """Bytes of an automatically encoded packet, for estimating link traffic without encoding."""
    return HEADER_SIZE + payload_size(choose_encoding(n_neurons, count), n_neurons, count)


def encode_packet(
    boundary_id: int,
    step: int,
    batch: int,
    spikes: np.ndarray,
    encoding: Encoding | None = None,
) -> bytes:
    """One packet for the bool [n] spikes of one step and sample; None picks the smallest."""
    _check_field("boundary_id", boundary_id, _U16_MAX)
    _check_field("step", step, _U16_MAX)
    _check_field("batch", batch, _U32_MAX)
    rows = _as_spikes(spikes, ndim=1, shape_name="[n]")[None, :]
    return _encode_rows(boundary_id, rows, step, batch, 1, encoding)[0]


def encode_steps(boundary_id: int, spikes: np.ndarray) -> list[bytes]:
    """Packets for bool [T, batch, n] spikes, one per (t, b), t-major; bulk work vectorized."""
    _check_field("boundary_id", boundary_id, _U16_MAX)
    spikes = _as_spikes(spikes, ndim=3, shape_name="[T, batch, n]")
    steps, batch, n_neurons = spikes.shape
    if steps > _U16_MAX + 1:
        raise PacketError(
            f"spikes has {steps} time steps but the packet step field is u16 (at most "
            f"{_U16_MAX + 1} steps); send the run in windows of at most {_U16_MAX + 1} steps"
        )
    if batch > _U32_MAX + 1:
        raise PacketError(
            f"spikes has a batch of {batch} but the packet batch field is u32 (at most "
            f"{_U32_MAX + 1} samples); split the batch"
        )
    rows = spikes.reshape(steps * batch, n_neurons)
    return _encode_rows(boundary_id, rows, 0, 0, batch, None)


def decode_packet(data: bytes | memoryview, n_neurons: int) -> tuple[PacketHeader, np.ndarray]:
    """Check one packet (length, CRC, payload) and return its header and bool [n] spikes."""
    view = memoryview(data).cast("B")
    header, crc = _read_header(view)
    expected = _expected_size(header, n_neurons)
    where = _where(header)
    if len(view) != expected:
        raise PacketError(
            f"packet {where} is {len(view)} bytes but its header ({header.encoding.name}, "
            f"{header.count} spikes, {n_neurons} neurons) implies {expected}; it was truncated "
            f"or the link corrupted it"
        )
    payload = view[HEADER_SIZE:]
    actual = zlib.crc32(payload, zlib.crc32(b"\0\0\0\0", zlib.crc32(view[:_CRC_OFFSET])))
    if actual != crc:
        raise PacketError(
            f"packet {where} (as read) failed its CRC32 check (stored 0x{crc:08x}, computed "
            f"0x{actual:08x}): the link corrupted it; resend it or check the transport"
        )
    if header.encoding is Encoding.BITMAP:
        spikes = _decode_bitmap(payload, n_neurons, header.count, where)
    else:
        spikes = _decode_aer(payload, n_neurons, header, where)
    return header, spikes


def decode_steps(
    packets: Iterable[bytes],
    n_neurons: int,
    steps: int,
    batch: int,
    boundary_id: int | None = None,
) -> np.ndarray:
    """Reassemble bool [T, batch, n] spikes; every (t, b) must arrive exactly once."""
    spikes = np.zeros((steps, batch, n_neurons), dtype=bool)
    seen = np.zeros((steps, batch), dtype=bool)
    for packet in packets:
        header, row = decode_packet(packet, n_neurons)
        where = _where(header)
        if boundary_id is not None and header.boundary_id != boundary_id:
            raise PacketError(
                f"packet {where} belongs to boundary {header.boundary_id}, expected boundary "
                f"{boundary_id}; the transport mixed up its links"
            )
        if header.step >= steps or header.batch >= batch:
            raise PacketError(
                f"packet {where} is outside the expected {steps} steps x {batch} samples"
            )
        if seen[header.step, header.batch]:
            raise PacketError(f"packet {where} arrived twice; the transport duplicated it")
        seen[header.step, header.batch] = True
        spikes[header.step, header.batch] = row
    missing = np.argwhere(~seen)
    if len(missing):
        shown = ", ".join(f"(step {t}, batch {b})" for t, b in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise PacketError(
            f"{len(missing)} packets never arrived: {shown}{more}; the transport lost them"
        )
    return spikes


def iter_packets(stream: bytes | memoryview, n_neurons: int) -> Iterator[bytes]:
    """Split a concatenation of packets (stream transports), using each header for its length."""
    view = memoryview(stream).cast("B")
    offset = 0
    while offset < len(view):
        header, _ = _read_header(view[offset:])
        size = _expected_size(header, n_neurons)
        if offset + size > len(view):
            raise PacketError(
                f"stream ends inside packet {_where(header)} at byte {offset}: it needs "
                f"{size} bytes, {len(view) - offset} remain; the stream was truncated"
            )
        yield bytes(view[offset : offset + size])
        offset += size


def _encode_rows(
    boundary_id: int,
    rows: np.ndarray,
    first_step: int,
    first_batch: int,
    batch: int,
    encoding: Encoding | None,
) -> list[bytes]:
    """Encode bool [m, n] rows, row i being (first_step + i // batch, first_batch + i % batch).

    Counts, packbits and id extraction run once over all rows; only framing loops per packet.
    """
    n_neurons = rows.shape[1]
    counts = np.count_nonzero(rows, axis=1).tolist()
    if encoding is None:
        encodings = [choose_encoding(n_neurons, c) for c in counts]
    else:
        encoding = Encoding(encoding)
        payload_size(encoding, n_neurons, 0)  # refuses an AER that cannot address n_neurons
        encodings = [encoding] * len(counts)
    is_bitmap = np.array([e is Encoding.BITMAP for e in encodings], dtype=bool)
    bitmaps = memoryview(np.packbits(rows[is_bitmap], axis=1, bitorder="little").tobytes())
    # All AER rows of one call share an id size: automatic choice depends on n only.
    aer = _aer_for(n_neurons) if encoding is None or encoding is Encoding.BITMAP else encoding
    ids = memoryview(np.nonzero(rows[~is_bitmap])[1].astype(_ID_DTYPE[aer]).tobytes())
    bitmap_size = _bitmap_size(n_neurons)
    id_size = _ID_DTYPE[aer].itemsize
    packets = []
    bitmap_at = ids_at = 0
    for i, (enc, count) in enumerate(zip(encodings, counts, strict=True)):
        if enc is Encoding.BITMAP:
            payload = bitmaps[bitmap_at : bitmap_at + bitmap_size]
            bitmap_at += bitmap_size
        else:
            payload = ids[ids_at : ids_at + count * id_size]
            ids_at += count * id_size
        step, sample = divmod(i, batch)
        fields = (boundary_id, first_step + step, first_batch + sample, enc, count)
        crc = zlib.crc32(payload, zlib.crc32(HEADER.pack(*fields, 0)))
        packets.append(HEADER.pack(*fields, crc) + payload)
    return packets


def _read_header(view: memoryview) -> tuple[PacketHeader, int]:
    """Parse a header, refusing a buffer too short for one or an encoding we do not know."""
    if len(view) < HEADER_SIZE:
        raise PacketError(
            f"packet is {len(view)} bytes, shorter than its {HEADER_SIZE}-byte header; "
            f"it was truncated"
        )
    boundary_id, step, batch, code, count, crc = HEADER.unpack_from(view)
    try:
        encoding = Encoding(code)
    except ValueError:
        raise PacketError(
            f"packet boundary {boundary_id} step {step} batch {batch} (as read) has unknown "
            f"encoding {code} (known: 0 AER16, 1 AER32, 2 BITMAP); the link corrupted it "
            f"or the sender speaks another format"
        ) from None
    return PacketHeader(boundary_id, step, batch, encoding, count), crc


def _expected_size(header: PacketHeader, n_neurons: int) -> int:
    """The packet length its header implies, naming the packet when the header cannot be right."""
    try:
        return HEADER_SIZE + payload_size(header.encoding, n_neurons, header.count)
    except PacketError as error:
        raise PacketError(
            f"packet {_where(header)} (as read) cannot be decoded: {error}; the link corrupted "
            f"it or the sender used another n_neurons"
        ) from error


def _decode_aer(
    payload: memoryview, n_neurons: int, header: PacketHeader, where: str
) -> np.ndarray:
    """Spikes from AER ids, which must be in range and strictly increasing (so none repeats)."""
    ids = np.frombuffer(payload, dtype=_ID_DTYPE[header.encoding]).astype(np.int64)
    if np.any(np.diff(ids) <= 0):
        raise PacketError(f"packet {where} has AER ids that are not strictly increasing")
    if len(ids) and ids[-1] >= n_neurons:
        raise PacketError(
            f"packet {where} has AER id {ids[-1]} but the boundary has {n_neurons} neurons"
        )
    spikes = np.zeros(n_neurons, dtype=bool)
    spikes[ids] = True
    return spikes


def _decode_bitmap(payload: memoryview, n_neurons: int, count: int, where: str) -> np.ndarray:
    """Spikes from a bitmap, which must set no bit past n_neurons and exactly count bits."""
    bits = np.unpackbits(np.frombuffer(payload, dtype=np.uint8), bitorder="little").view(bool)
    if bits[n_neurons:].any():
        raise PacketError(f"packet {where} sets bitmap bits past its {n_neurons} neurons")
    spikes = bits[:n_neurons]
    set_bits = int(np.count_nonzero(spikes))
    if set_bits != count:
        raise PacketError(f"packet {where} says {count} spikes but its bitmap sets {set_bits}")
    return spikes


def _aer_for(n_neurons: int) -> Encoding:
    """The narrowest AER encoding whose ids address n_neurons."""
    return Encoding.AER16 if n_neurons <= _AER_NEURON_LIMIT[Encoding.AER16] else Encoding.AER32


def _bitmap_size(n_neurons: int) -> int:
    return (n_neurons + 7) // 8


def _check_counts(n_neurons: int, count: int) -> None:
    if n_neurons < 0:
        raise PacketError(f"n_neurons must be >= 0, got {n_neurons}")
    if not 0 <= count <= n_neurons:
        raise PacketError(f"spike count {count} is outside 0..{n_neurons} (n_neurons)")


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


def _where(header: PacketHeader) -> str:
    return f"boundary {header.boundary_id} step {header.step} batch {header.batch}"
