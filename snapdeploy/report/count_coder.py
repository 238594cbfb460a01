"""Entropy-coded count messages: a window's spike counts range-coded against a probability
table both dies agreed on at deploy time.

A count message of `report.wire` codes each thermometer level with Rice gaps or a bitmap,
which uses nothing the two dies could agree on in advance. This coder does: a static
`CountTable`, fitted once on training data and shipped with the deployment (its bytes,
`CountTable.to_bytes`, cross once, not per message), gives per channel and per context the
probability of each symbol: a cell's count 0..T or, for a signed cut's encoder spikes, its
signed count -T..T (one value's positive minus negative spikes; one half is always silent).
The context is the symbols of the cell's already-coded neighbours in the same channel: the
previous position along each axis of the boundary's grid (the previous token of a sequence;
the left and the upper pixel of a feature map), or "none" at a border, so correlated
neighbours cost fewer bits. Symbols are coded with byte-wise rANS (a 31-bit state,
probabilities as integer frequencies summing to 2**16, every symbol at least 1): integer
arithmetic only, so both dies decode bit-identically, and a message decodes exactly to its
counts.

Wire format of one message (one window of `rows` samples)::

    header, 22 bytes, struct "<BBHHIIII":
        version     u8   1
        flags       u8   1 = signed symbols
        boundary_id u16  which boundary of the plan the message belongs to
        steps       u16  T
        rows        u32  samples in the message
        table       u32  CRC32 of the table's bytes (a die holding another table refuses it)
        length      u32  payload bytes
        crc32       u32  zlib.crc32 of the header with this field zeroed, then the payload
    payload: the coder's final state (4 bytes, big-endian), then the bytes it shifted out
    while coding, in the order the decoder reads them back; cells are coded in row-major
    order of [rows, *grid, channels].
"""

from __future__ import annotations

import itertools
import struct
import zlib
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from snapdeploy.core.errors import PacketError
from snapdeploy.report.wire import signed_values, unsigned_halves

VERSION = 1
SIGNED = 1
HEADER = struct.Struct("<BBHHIIII")
HEADER_SIZE = HEADER.size
_CRC_OFFSET = HEADER_SIZE - 4
#: Frequencies of one (channel, context) sum to 2**PROB_BITS.
PROB_BITS = 16
_TOTAL = 1 << PROB_BITS
#: rANS state bounds: [STATE_LOW, STATE_LOW << 8), renormalised a byte at a time.
STATE_LOW = 1 << 23
#: Grid axes a context can look back along (tokens; rows and columns of a feature map).
MAX_GRID_AXES = 2
#: Weight of a channel's overall distribution in each context's estimate: a context seen
#: rarely in training falls back towards it instead of towards uniform.
PRIOR_WEIGHT = 8.0
TABLE_MAGIC = b"SNCT"
_TABLE_HEAD = struct.Struct("<4sBBHIB")


@dataclass(frozen=True, eq=False)
class CountTable:
    """Integer symbol frequencies [channels, contexts, symbols] of one boundary, each
    (channel, context) row summing to 2**PROB_BITS; built by `fit_table`."""

    steps: int
    signed: bool
    grid: tuple[int, ...]  # positions per sample: (tokens,) or (height, width); () for none
    channels: int  # values per position (a signed cut's spike width is twice this)
    neighbours: bool  # whether contexts look at the previous position along each grid axis
    freqs: np.ndarray

    @property
    def symbols(self) -> int:
        return _alphabet(self.steps, self.signed)

    @property
    def width(self) -> int:
        """Spike channels per position: two per value when signed."""
        return 2 * self.channels if self.signed else self.channels

    @property
    def context_axes(self) -> int:
        return len(self.grid) if self.neighbours else 0

    @cached_property
    def cumulative(self) -> np.ndarray:
        """int64 [channels, contexts, symbols + 1]: where each symbol's slots start."""
        cum = np.zeros((*self.freqs.shape[:2], self.symbols + 1), dtype=np.int64)
        np.cumsum(self.freqs, axis=-1, out=cum[..., 1:])
        return cum

    def to_bytes(self) -> bytes:
        """What ships once at deploy time: the shape fields, then the frequencies as u16
        (a row's largest is at most 2**16 - symbols + 1)."""
        flags = int(self.signed) | int(self.neighbours) << 1
        head = _TABLE_HEAD.pack(
            TABLE_MAGIC, VERSION, flags, self.steps, self.channels, len(self.grid)
        )
        grid = struct.pack(f"<{len(self.grid)}I", *self.grid)
        return head + grid + self.freqs.astype("<u2").tobytes()

    @cached_property
    def digest(self) -> int:
        """CRC32 of `to_bytes`: the table a message names in its header."""
        return zlib.crc32(self.to_bytes())

    @classmethod
    def from_bytes(cls, data: bytes) -> CountTable:
        """Inverse of `to_bytes`, checked (magic, version, sizes, each row's sum)."""
        if len(data) < _TABLE_HEAD.size or data[:4] != TABLE_MAGIC:
            raise PacketError(
                "count table does not start with its magic b'SNCT'; it is not a table "
                "`CountTable.to_bytes` wrote, or it was truncated"
            )
        _, version, flags, steps, channels, axes = _TABLE_HEAD.unpack_from(data)
        if version != VERSION or axes > MAX_GRID_AXES:
            raise PacketError(
                f"count table has version {version} and {axes} grid axes; this coder reads "
                f"version {VERSION} with at most {MAX_GRID_AXES}; refit it with this snapdeploy"
            )
        grid = struct.unpack_from(f"<{axes}I", data, _TABLE_HEAD.size)
        shape = _freq_shape(steps, bool(flags & 1), axes if flags & 2 else 0, channels)
        body = data[_TABLE_HEAD.size + 4 * axes :]
        if len(body) != 2 * int(np.prod(shape)):
            raise PacketError(
                f"count table holds {len(body)} frequency bytes, its shape fields need "
                f"{2 * int(np.prod(shape))}; it was truncated or corrupted"
            )
        freqs = np.frombuffer(body, dtype="<u2").astype(np.int64).reshape(shape)
        table = cls(steps, bool(flags & 1), tuple(grid), channels, bool(flags & 2), freqs)
        _check_rows(table)
        return table


def _alphabet(steps: int, signed: bool) -> int:
    """Symbols of a cell: a count 0..T, or a signed count -T..T."""
    return 2 * steps + 1 if signed else steps + 1


def _freq_shape(steps: int, signed: bool, context_axes: int, channels: int) -> tuple[int, ...]:
    symbols = _alphabet(steps, signed)
    return (channels, (symbols + 1) ** context_axes, symbols)


def _check_rows(table: CountTable) -> None:
    if (table.freqs < 1).any() or (table.freqs.sum(-1) != _TOTAL).any():
        raise PacketError(
            f"count table frequencies must be at least 1 and sum to {_TOTAL} per channel and "
            f"context; this one does not, so it was corrupted; refit it with `fit_table`"
        )


def _symbols(spikes: np.ndarray, steps: int, signed: bool, grid: tuple, width: int) -> np.ndarray:
    """Bool [T, rows, *grid, width] spikes as int64 symbols [rows, *grid, channels]."""
    spikes = np.asarray(spikes)
    expected = (steps, "rows", *grid, width)
    if (
        spikes.dtype != np.bool_
        or spikes.ndim != len(expected)
        or spikes.shape[0] != steps
        or tuple(spikes.shape[2:]) != (*grid, width)
    ):
        raise PacketError(
            f"coded count message: spikes are {spikes.dtype} {tuple(spikes.shape)}, the "
            f"boundary's table is for bool {expected}; fix: reshape the window to its table's "
            f"shape, or fit a table for this boundary with `fit_table`"
        )
    if signed:
        return signed_values(spikes) + steps
    return spikes.sum(0, dtype=np.int64)


def _contexts(symbols: np.ndarray, axes: int, alphabet: int) -> np.ndarray:
    """Per cell of int64 [rows, *grid, channels] symbols, its context: the symbol before it
    along each of the first `axes` grid axes (`alphabet` at a border), as one index."""
    ctx = np.zeros(symbols.shape, dtype=np.int64)
    for axis in range(axes):
        before = np.full(symbols.shape, alphabet, dtype=np.int64)
        dim = 1 + axis
        src = [slice(None)] * symbols.ndim
        dst = [slice(None)] * symbols.ndim
        src[dim], dst[dim] = slice(None, -1), slice(1, None)
        before[tuple(dst)] = symbols[tuple(src)]
        ctx += before * (alphabet + 1) ** axis
    return ctx


def fit_table(
    windows: Iterable[np.ndarray],
    steps: int,
    signed: bool,
    grid: tuple[int, ...],
    neighbours: bool = True,
) -> CountTable:
    """A boundary's table from windows of its spikes on TRAINING data, each bool
    [T, rows, *grid, width]: per channel and context, symbol frequencies estimated with the
    channel's own distribution as prior (weight PRIOR_WEIGHT), then made integers."""
    if len(grid) > MAX_GRID_AXES:
        raise PacketError(
            f"coded counts take at most {MAX_GRID_AXES} grid axes, got grid {grid}; fix: "
            f"flatten the positions to {MAX_GRID_AXES} axes"
        )
    windows = iter(windows)
    first = next(windows, None)
    if first is None:
        raise PacketError("fit_table got no windows of spikes; pass the training windows")
    width = np.asarray(first).shape[-1]
    channels = width // 2 if signed else width
    alphabet = _alphabet(steps, signed)
    axes = len(grid) if neighbours else 0
    shape = _freq_shape(steps, signed, axes, channels)
    counts = np.zeros(shape, dtype=np.int64)
    for spikes in itertools.chain([first], windows):
        symbols = _symbols(spikes, steps, signed, grid, width)  # one width for all windows
        cells = (np.arange(channels) * shape[1] + _contexts(symbols, axes, alphabet)) * alphabet
        counts += np.bincount((cells + symbols).reshape(-1), minlength=counts.size).reshape(shape)
    overall = counts.sum(1) + 0.5
    prior = overall / overall.sum(-1, keepdims=True)
    probs = (counts + PRIOR_WEIGHT * prior[:, None]) / (
        counts.sum(-1, keepdims=True) + PRIOR_WEIGHT
    )
    freqs = np.floor(probs * (_TOTAL - alphabet)).astype(np.int64) + 1
    top = freqs.argmax(-1)[..., None]
    np.put_along_axis(
        freqs, top, np.take_along_axis(freqs, top, -1) + _TOTAL - freqs.sum(-1, keepdims=True), -1
    )
    return CountTable(steps, signed, tuple(grid), channels, neighbours, freqs)


def encode_coded_counts(table: CountTable, spikes: np.ndarray, boundary_id: int = 0) -> bytes:
    """One window of bool [T, rows, *grid, width] spikes as a coded count message."""
    symbols = _symbols(spikes, table.steps, table.signed, table.grid, table.width)
    rows = symbols.shape[0]
    if not 0 <= boundary_id <= 0xFFFF or rows > 0xFFFFFFFF:
        raise PacketError(
            f"coded count message: boundary {boundary_id} or {rows} rows do not fit the "
            f"header (u16, u32); split the window"
        )
    ctx = _contexts(symbols, table.context_axes, table.symbols)
    channel = np.broadcast_to(np.arange(table.channels), symbols.shape)
    starts = table.cumulative[channel, ctx, symbols].reshape(-1).tolist()
    freqs = table.freqs[channel, ctx, symbols].reshape(-1).tolist()
    payload = _rans_encode(starts, freqs)
    fields = (
        VERSION,
        SIGNED if table.signed else 0,
        boundary_id,
        table.steps,
        rows,
        table.digest,
        len(payload),
    )
    crc = zlib.crc32(payload, zlib.crc32(HEADER.pack(*fields, 0)))
    return HEADER.pack(*fields, crc) + payload


def coded_count_bytes(table: CountTable, spikes: np.ndarray, boundary_id: int = 0) -> int:
    """Bytes of one window's coded count message, header included (the table not)."""
    return len(encode_coded_counts(table, spikes, boundary_id))


def _rans_encode(starts: list[int], freqs: list[int]) -> bytes:
    """rANS over the symbols (coded last to first, so the decoder reads them first to last)."""
    out = bytearray()
    state = STATE_LOW
    shift = 31 - PROB_BITS  # state must stay below freq << shift before a symbol is pushed
    for start, freq in zip(reversed(starts), reversed(freqs)):
        limit = freq << shift
        while state >= limit:
            out.append(state & 0xFF)
            state >>= 8
        quotient, remainder = divmod(state, freq)
        state = (quotient << PROB_BITS) + remainder + start
    out += state.to_bytes(4, "little")
    out.reverse()
    return bytes(out)


def decode_coded_counts(table: CountTable, data: bytes) -> np.ndarray:
    """Inverse of `encode_coded_counts`: int64 [rows, *grid, width] counts of the window
    (a signed table's as positive parts, then negative parts, like `wire`'s)."""
    view = memoryview(data).cast("B")
    if len(view) < HEADER_SIZE:
        raise PacketError(
            f"coded count message is {len(view)} bytes, shorter than its {HEADER_SIZE}-byte "
            f"header; it was truncated"
        )
    version, flags, boundary, steps, rows, digest, length, crc = HEADER.unpack_from(view)
    where = f"coded count message of boundary {boundary}"
    if version != VERSION:
        raise PacketError(
            f"{where} has format version {version}, this coder reads {VERSION}; the link "
            f"corrupted it or the sender runs another snapdeploy version"
        )
    if len(view) != HEADER_SIZE + length:
        raise PacketError(
            f"{where} is {len(view)} bytes but its header says {HEADER_SIZE} + {length}; it "
            f"was truncated or the link corrupted it"
        )
    payload = bytes(view[HEADER_SIZE:])
    actual = zlib.crc32(payload, zlib.crc32(b"\0\0\0\0", zlib.crc32(view[:_CRC_OFFSET])))
    if actual != crc:
        raise PacketError(
            f"{where} failed its CRC32 check (stored 0x{crc:08x}, computed 0x{actual:08x}): "
            f"the link corrupted it; resend it or check the transport"
        )
    if digest != table.digest or steps != table.steps or bool(flags & SIGNED) != table.signed:
        raise PacketError(
            f"{where} was coded with table 0x{digest:08x} (T={steps}, "
            f"{'signed' if flags & SIGNED else 'unsigned'}), but this die holds table "
            f"0x{table.digest:08x} (T={table.steps}, "
            f"{'signed' if table.signed else 'unsigned'}); fix: ship the sender's table to "
            f"this die at deploy time"
        )
    symbols = _rans_decode(table, payload, rows, where)
    shaped = symbols.reshape(rows, *table.grid, table.channels)
    return unsigned_halves(shaped - table.steps) if table.signed else shaped


def _neighbour_offsets(table: CountTable) -> list[tuple[int, ...]]:
    """Per cell of one sample, how far back each context neighbour lies (0: at a border)."""
    shape = (*table.grid, table.channels)
    strides = np.cumprod((1, *shape[::-1]))[::-1][1:]  # elements per step along each axis
    coords = np.indices(shape).reshape(len(shape), -1)
    offsets = [
        np.where(coords[axis] > 0, int(strides[axis]), 0) for axis in range(table.context_axes)
    ]
    return list(zip(*offsets)) if offsets else [()] * coords.shape[1]


def _rans_decode(table: CountTable, payload: bytes, rows: int, where: str) -> np.ndarray:
    """The message's symbols in coding order; the state must end where the encoder began."""
    if len(payload) < 4:
        raise PacketError(f"{where} has a {len(payload)}-byte payload, less than its 4-byte state")
    cum = table.cumulative.tolist()
    alphabet = table.symbols
    mults = [(alphabet + 1) ** axis for axis in range(table.context_axes)]
    cell_offsets = _neighbour_offsets(table)
    channels = table.channels
    out: list[int] = []
    state, pos, mask = int.from_bytes(payload[:4], "big"), 4, _TOTAL - 1
    for _ in range(rows):
        for cell, offsets in enumerate(cell_offsets):
            here = len(out)
            ctx = 0
            for off, mult in zip(offsets, mults):
                ctx += (out[here - off] if off else alphabet) * mult
            row = cum[cell % channels][ctx]
            slot = state & mask
            symbol = bisect_right(row, slot) - 1
            state = (row[symbol + 1] - row[symbol]) * (state >> PROB_BITS) + slot - row[symbol]
            while state < STATE_LOW:
                if pos == len(payload):
                    raise PacketError(
                        f"{where} ends inside its coded symbols; it was truncated or corrupted"
                    )
                state = (state << 8) | payload[pos]
                pos += 1
            out.append(symbol)
    if state != STATE_LOW or pos != len(payload):
        raise PacketError(
            f"{where} does not decode to exactly its {rows} rows (final state 0x{state:x}, "
            f"{len(payload) - pos} bytes left over); it was corrupted or coded with another table"
        )
    return np.asarray(out, dtype=np.int64)
