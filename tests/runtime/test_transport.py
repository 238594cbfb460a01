"""InProcessTransport: spikes come out as they went in, and the bytes counted are the bytes of
the packets the codec makes, headers included."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snapdeploy.core.packets import HEADER_SIZE, encode_frame, encode_steps
from snapdeploy.runtime import BoundaryStats, InProcessTransport


@st.composite
def spike_arrays(draw, width: int | None = None, steps: int | None = None):
    steps = steps or draw(st.integers(1, 10))
    batch = draw(st.integers(0, 4))
    width = width or draw(st.integers(1, 300))
    rate = draw(st.sampled_from([0.0, 0.01, 0.1, 0.5, 1.0]))
    seed = draw(st.integers(0, 2**32 - 1))
    return np.random.default_rng(seed).random((steps, batch, width)) < rate


@settings(max_examples=80, deadline=None)
@given(spike_arrays(), st.integers(0, 0xFFFF))
def test_carry_returns_identical_spikes_and_counts_packet_bytes(spikes, boundary_id):
    transport = InProcessTransport()
    received = transport.carry(boundary_id, spikes)

    assert received.dtype == bool
    np.testing.assert_array_equal(received, spikes)
    packets = encode_steps(boundary_id, spikes)
    stats = transport.stats[boundary_id]
    steps, batch, width = spikes.shape
    assert (stats.boundary_id, stats.width, stats.steps) == (boundary_id, width, steps)
    assert stats.packets == len(packets) == (steps if batch else 0)  # one frame per step
    assert stats.wire_bytes == sum(len(p) for p in packets)
    assert stats.wire_bytes >= HEADER_SIZE * stats.packets
    assert stats.samples == batch
    assert stats.spikes == int(spikes.sum())
    np.testing.assert_array_equal(stats.spikes_per_step, spikes.sum(axis=(1, 2)))
    assert stats.fp16_bytes == 2 * width * batch
    cells = steps * batch * width
    assert stats.spike_rate == (spikes.sum() / cells if cells else 0.0)
    assert 0.0 <= stats.spike_rate <= 1.0


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 200), st.integers(1, 8), st.data())
def test_stats_accumulate_over_batches_per_boundary(width, steps, data):
    transport = InProcessTransport()
    batches = [data.draw(spike_arrays(width=width, steps=steps)) for _ in range(3)]
    other = data.draw(spike_arrays(steps=steps))
    for spikes in batches:
        np.testing.assert_array_equal(transport.carry(0, spikes), spikes)
    np.testing.assert_array_equal(transport.carry(1, other), other)

    stats = transport.stats[0]
    assert stats.samples == sum(b.shape[1] for b in batches)
    assert stats.packets == sum(b.shape[0] for b in batches if b.shape[1])
    assert stats.wire_bytes == sum(len(p) for b in batches for p in encode_steps(0, b))
    assert stats.spikes == sum(int(b.sum()) for b in batches)
    assert stats.fp16_bytes == 2 * width * stats.samples
    cells = stats.samples * width * steps
    assert stats.spike_rate == pytest.approx(stats.spikes / cells if cells else 0.0)
    first = next((b for b in batches if b.shape[1] > 0), None)
    if first is None:
        assert stats.first_sample_raster is None
    else:
        np.testing.assert_array_equal(stats.first_sample_raster, first[:, 0])
    # boundary 1 is counted apart
    assert transport.stats[1].samples == other.shape[1]
    assert transport.stats[1].wire_bytes == sum(len(p) for p in encode_steps(1, other))


def test_wire_bytes_follow_the_spike_rate_not_the_width():
    rng = np.random.default_rng(0)
    shape = (4, 64, 256)
    transport = InProcessTransport()
    for boundary, rate in enumerate([0.01, 0.1, 0.5]):
        transport.carry(boundary, rng.random(shape) < rate)
    sizes = [transport.stats[b].wire_bytes for b in range(3)]
    assert sizes[0] < sizes[1] < sizes[2] <= 4 * (HEADER_SIZE + 64 * 256 // 8)
    # random spikes at 1%: Rice-coded gaps cost about 8.7 bits a spike, far below a bitmap
    assert sizes[0] < 0.15 * 4 * 64 * 256 / 8


def test_steady_spikes_cost_only_headers_after_the_first_step():
    spikes = np.zeros((4, 8, 256), dtype=bool)
    spikes[:, :, ::3] = True  # the same neurons every step: a delta frame with nothing in it
    transport = InProcessTransport()
    np.testing.assert_array_equal(transport.carry(0, spikes), spikes)
    first = len(encode_frame(0, 0, 0, spikes[0]))
    assert first > HEADER_SIZE
    assert transport.stats[0].wire_bytes == first + 3 * HEADER_SIZE


def test_empty_stats_have_zero_rate():
    stats = BoundaryStats(boundary_id=0, width=5, steps=3)
    assert stats.spike_rate == 0.0
    assert stats.fp16_bytes == 0
    assert stats.spikes_per_step.tolist() == [0, 0, 0]
    assert stats.first_sample_raster is None
