"""snapdeploy.report.wire: spike counts coded per window decode exactly, and sizes are the
lengths of the real encodings."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snapdeploy.core.errors import PacketError
from snapdeploy.core.packets import encode_steps, iter_frames
from snapdeploy.report.wire import (
    count_message_bytes,
    decode_counts,
    decode_signed_counts,
    dense_bytes,
    encode_counts,
    encode_signed_counts,
    frame_bytes,
    signed_count_message_bytes,
)


@settings(max_examples=40, deadline=None)
@given(
    steps=st.integers(1, 6),
    rows=st.integers(1, 4),
    n=st.integers(1, 40),
    rate=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**16),
)
def test_counts_round_trip(steps, rows, n, rate, seed):
    spikes = np.random.default_rng(seed).random((steps, rows, n)) < rate
    message = encode_counts(spikes)
    assert np.array_equal(decode_counts(message, rows, n), spikes.sum(0))
    assert count_message_bytes(spikes) == len(message)


def test_sizes_are_the_encodings_lengths():
    spikes = np.random.default_rng(0).random((4, 8, 100)) < 0.05
    assert frame_bytes(spikes) == sum(map(len, encode_steps(0, spikes)))
    assert dense_bytes(100, 4) == 50 and dense_bytes(3, 16) == 6


def test_counts_are_cheaper_than_frames_when_spikes_repeat_irregularly():
    rng = np.random.default_rng(1)
    spikes = rng.random((4, 16, 256)) < 0.1  # independent steps: deltas do not help frames
    assert count_message_bytes(spikes) < frame_bytes(spikes)


def test_levels_out_of_order_are_refused():
    spikes = np.ones((3, 1, 5), dtype=bool)
    first, second, third = iter_frames(encode_counts(spikes))
    with pytest.raises(PacketError, match="level 2 came where level 1 was due"):
        decode_counts(first + third + second, 1, 5)


def signed_spikes(rng: np.random.Generator, steps: int, rows: int, values: int, rate: float):
    """Spikes as a signed cut's encoder sends them: a value's positive half spikes only
    where it is positive, its negative half only where it is negative."""
    positive = rng.random((rows, values)) < 0.5
    spikes = rng.random((steps, rows, 2 * values)) < rate
    spikes[..., :values] &= positive
    spikes[..., values:] &= ~positive
    return spikes


@settings(max_examples=40, deadline=None)
@given(
    steps=st.integers(1, 6),
    rows=st.integers(1, 4),
    values=st.integers(1, 40),
    rate=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**16),
)
def test_signed_counts_round_trip(steps, rows, values, rate, seed):
    spikes = signed_spikes(np.random.default_rng(seed), steps, rows, values, rate)
    message = encode_signed_counts(spikes)
    assert np.array_equal(decode_signed_counts(message, rows, values), spikes.sum(0))
    assert signed_count_message_bytes(spikes) == len(message)


def test_signed_counts_drop_the_silent_half():
    """Signs cost a bit per nonzero value, less than coding the silent half of every pair
    among twice the cells (at a rate where the sign frame's header is small change)."""
    spikes = signed_spikes(np.random.default_rng(2), 4, 64, 128, 0.2)
    assert signed_count_message_bytes(spikes) < 0.97 * count_message_bytes(spikes)


def test_signed_counts_refuse_both_halves_spiking():
    spikes = np.zeros((2, 1, 6), dtype=bool)
    spikes[0, 0, [1, 4]] = True  # value 1 spiked positive and negative
    with pytest.raises(PacketError, match="1 values spiked on both"):
        encode_signed_counts(spikes)
    with pytest.raises(PacketError, match="two per value"):
        encode_signed_counts(np.zeros((2, 1, 5), dtype=bool))


def test_signed_counts_sign_frame_out_of_order_is_refused():
    spikes = signed_spikes(np.random.default_rng(3), 3, 2, 8, 0.9)
    first, signs, *rest = iter_frames(encode_signed_counts(spikes))
    with pytest.raises(PacketError, match="where the sign frame was due"):
        decode_signed_counts(first + rest[0] + signs + b"".join(rest[1:]), 2, 8)
