"""snapdeploy.report.count_coder: coded count messages decode exactly whatever table they
were coded with, use the neighbour context, and refuse damaged messages and foreign tables
by name."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snapdeploy.core.errors import PacketError
from snapdeploy.report.count_coder import (
    HEADER_SIZE,
    CountTable,
    coded_count_bytes,
    decode_coded_counts,
    encode_coded_counts,
    fit_table,
)
from snapdeploy.report.wire import count_message_bytes


def unsigned_spikes(rng: np.random.Generator, steps: int, rows: int, shape: tuple, rate: float):
    return rng.random((steps, rows, *shape)) < rate


def signed_spikes(rng: np.random.Generator, steps: int, rows: int, shape: tuple, rate: float):
    """A signed encoder's spikes [T, rows, *grid, 2v]: one half of each value silent."""
    *grid, values = shape
    positive = rng.random((rows, *grid, values)) < 0.5
    spikes = rng.random((steps, rows, *grid, 2 * values)) < rate
    spikes[..., :values] &= positive
    spikes[..., values:] &= ~positive
    return spikes


def smooth_maps(rng: np.random.Generator, steps: int, rows: int, side: int, channels: int):
    """Feature-map-like spikes: each channel's rate varies smoothly over the map, so a
    pixel's count follows its left and upper neighbours'."""
    bumps = rng.random((rows, side // 4, side // 4, channels)) ** 3
    rate = np.repeat(np.repeat(bumps, 4, axis=1), 4, axis=2)
    return rng.random((steps, rows, side, side, channels)) < rate


@settings(max_examples=30, deadline=None)
@given(
    steps=st.integers(1, 6),
    rows=st.integers(0, 3),
    grid=st.sampled_from([(), (5,), (3, 4)]),
    channels=st.integers(1, 6),
    signed=st.booleans(),
    neighbours=st.booleans(),
    rates=st.tuples(st.floats(0.0, 1.0), st.floats(0.0, 1.0)),
    seed=st.integers(0, 2**16),
)
def test_round_trip_with_any_table(steps, rows, grid, channels, signed, neighbours, rates, seed):
    """Exact whatever the table says, even fitted at another rate (symbols it never saw
    still have a slot)."""
    rng = np.random.default_rng(seed)
    make = signed_spikes if signed else unsigned_spikes
    shape = (*grid, channels)
    table = fit_table([make(rng, steps, 2, shape, rates[0])], steps, signed, grid, neighbours)
    spikes = make(rng, steps, rows, shape, rates[1])
    message = encode_coded_counts(table, spikes, boundary_id=7)
    assert np.array_equal(decode_coded_counts(table, message), spikes.sum(0))
    assert coded_count_bytes(table, spikes, 7) == len(message) >= HEADER_SIZE + 4
    shipped = CountTable.from_bytes(table.to_bytes())
    assert shipped.digest == table.digest
    assert np.array_equal(decode_coded_counts(shipped, message), spikes.sum(0))


def test_the_neighbour_context_pays_on_smooth_maps():
    """On maps whose rate varies smoothly, coding against the left and upper pixels' counts
    beats per-channel frequencies alone, and both beat the thermometer count message."""
    rng = np.random.default_rng(0)
    train = [smooth_maps(rng, 4, 32, 16, 4) for _ in range(2)]
    held = smooth_maps(rng, 4, 32, 16, 4)
    with_context = coded_count_bytes(fit_table(train, 4, False, (16, 16)), held)
    alone = coded_count_bytes(fit_table(train, 4, False, (16, 16), neighbours=False), held)
    thermometer = count_message_bytes(held.reshape(4, 32, -1))
    assert with_context < 0.9 * alone and alone < thermometer


@pytest.fixture(scope="module")
def coded():
    rng = np.random.default_rng(1)
    spikes = signed_spikes(rng, 4, 3, (6, 5), 0.3)
    table = fit_table([spikes], 4, True, (6,))
    return table, spikes, encode_coded_counts(table, spikes, boundary_id=2)


def test_damaged_messages_are_refused(coded):
    table, _, message = coded
    with pytest.raises(PacketError, match="shorter than its 22-byte header"):
        decode_coded_counts(table, message[:10])
    for cut in (HEADER_SIZE, len(message) - 1):
        with pytest.raises(PacketError, match="truncated"):
            decode_coded_counts(table, message[:cut])
    for where in (3, HEADER_SIZE + 2, len(message) - 1):
        broken = bytearray(message)
        broken[where] ^= 0x10
        with pytest.raises(PacketError, match="CRC32|version"):
            decode_coded_counts(table, bytes(broken))


def test_a_foreign_table_is_refused_by_name(coded):
    table, spikes, message = coded
    other = fit_table([spikes[:, :1]], 4, True, (6,))
    with pytest.raises(PacketError, match=f"coded with table 0x{table.digest:08x}"):
        decode_coded_counts(other, message)


def test_spikes_of_another_shape_are_refused(coded):
    table, spikes, _ = coded
    with pytest.raises(PacketError, match=r"table is for bool \(4, 'rows', 6, 10\)"):
        encode_coded_counts(table, spikes[:, :, :5])
    with pytest.raises(PacketError, match="table is for bool"):
        encode_coded_counts(table, spikes.astype(np.uint8))
    both = spikes.copy()
    both[0, 0, 0, [0, 5]] = True  # value 0 spiked positive and negative
    with pytest.raises(PacketError, match="spiked on both"):
        encode_coded_counts(table, both)


def test_damaged_tables_are_refused(coded):
    table, _, _ = coded
    data = table.to_bytes()
    with pytest.raises(PacketError, match="frequency bytes"):
        CountTable.from_bytes(data[:-2])
    with pytest.raises(PacketError, match="magic"):
        CountTable.from_bytes(b"XXXX" + data[4:])
    broken = bytearray(data)
    broken[-1] ^= 0x01
    with pytest.raises(PacketError, match="sum to 65536"):
        CountTable.from_bytes(bytes(broken))
    with pytest.raises(PacketError, match="no windows"):
        fit_table([], 4, True, (6,))


def test_training_windows_of_another_width_are_refused():
    rng = np.random.default_rng(4)
    windows = [unsigned_spikes(rng, 2, 3, (5, 4), 0.2), unsigned_spikes(rng, 2, 3, (5, 3), 0.2)]
    with pytest.raises(PacketError, match=r"table is for bool \(2, 'rows', 5, 4\)"):
        fit_table(windows, 2, False, (5,))
