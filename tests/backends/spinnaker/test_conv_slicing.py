"""Conv layers on cores: the inputs that reach a slice are exactly those with a non-zero weight
onto it in the conv written out as a matrix; slices are whole output rows, whole pixels or a
divisor of the channels where that takes no more cores; pre and post slices are joined exactly
where a synapse joins them; a kernel slice beyond a core's synapse memory is refused."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snapdeploy.backends.spinnaker.conv_slicing import aligned_width, input_reach
from snapdeploy.backends.spinnaker.slicing import slice_network
from snapdeploy.core.conv import ConvLayerParams, ConvSynapse
from snapdeploy.core.errors import CapacityError
from snapdeploy.targets.spec import SpiNNakerDevice
from tests.strategies import conv_synapse, pool_synapse

SETTINGS = settings(max_examples=40, deadline=None)


def as_matrix(conv: ConvSynapse) -> np.ndarray:
    """int64 [n_out, n_in]: the weight from each input onto each output (an input meets an
    output through at most one tap, so a single spike's sum is that weight)."""
    return conv.sums(np.eye(conv.n_in, dtype=bool)).T >> conv.weight_exp


def synapses() -> st.SearchStrategy[ConvSynapse]:
    return st.one_of(conv_synapse(), pool_synapse().map(lambda pool: pool.conv))


@SETTINGS
@given(synapses(), st.data())
def test_an_input_reaches_a_slice_where_a_non_zero_weight_joins_them(conv, data) -> None:
    lo = data.draw(st.integers(0, conv.n_out - 1))
    hi = data.draw(st.integers(lo + 1, conv.n_out))
    want = np.any(as_matrix(conv)[lo:hi] != 0, axis=0)
    np.testing.assert_array_equal(input_reach(conv, lo, hi), want)


@SETTINGS
@given(synapses(), st.integers(1, 300))
def test_slices_are_whole_rows_or_pixels_or_a_divisor_of_the_channels(conv, width) -> None:
    _, y_out, channels = conv.output_shape
    got = aligned_width(conv, width)
    assert 1 <= got <= width
    if width >= y_out * channels:
        assert got % (y_out * channels) == 0 and got > width - y_out * channels
    elif width >= channels:
        assert got % channels == 0 and got > width - channels
    else:
        assert channels % got == 0


@SETTINGS
@given(synapses(), st.sampled_from([1, 3, 8]))
def test_slices_connect_exactly_where_a_synapse_joins_them(conv, per_core) -> None:
    device = SpiNNakerDevice(
        name="d", width=1, height=1, torus=False, cores_per_chip=8, neurons_per_core=per_core,
        synapse_bytes_per_core=10**6, packet_energy_pj=0.0, hop_energy_pj=0.0,
    )  # fmt: skip
    layer = ConvLayerParams(conv, 0, 0, 1, np.zeros(conv.n_out, int), 0)
    graph = slice_network(["conv"], [layer], device)
    matrix = as_matrix(conv)
    joined = {
        (int(a), int(b))
        for a in range(graph.n_slices)
        for b in range(graph.n_slices)
        if graph.population[a] == 0
        and graph.population[b] == 1
        and np.any(matrix[graph.lo[b] : graph.hi[b], graph.lo[a] : graph.hi[a]] != 0)
    }
    assert set(zip(graph.edge_pre.tolist(), graph.edge_post.tolist())) == joined
    layer_slices = graph.slices_of(1)
    widest = min(per_core, conv.n_out)
    width = int((graph.hi[layer_slices] - graph.lo[layer_slices]).max())
    aligned = aligned_width(conv, widest)
    cores = -(-conv.n_out // widest)
    # aligned to rows, pixels or channels unless that would take more cores
    assert width == (aligned if -(-conv.n_out // aligned) == cores else widest)
    assert len(layer_slices) == cores


def test_a_kernel_beyond_a_cores_synapse_memory_is_refused_with_both_numbers() -> None:
    conv = ConvSynapse(np.full((4, 3, 3, 2), 2), (5, 5, 2))  # 18 weights (36 bytes) a channel
    device = SpiNNakerDevice(
        name="small", width=1, height=1, torus=False, cores_per_chip=8, neurons_per_core=64,
        synapse_bytes_per_core=100, packet_energy_pj=0.0, hop_energy_pj=0.0,
    )  # fmt: skip
    layer = ConvLayerParams(conv, 0, 0, 1, np.zeros(conv.n_out, int), 0)
    with pytest.raises(CapacityError) as error:
        slice_network(["conv"], [layer], device)
    message = str(error.value)
    assert "layer 'conv'" in message and "needs 144 bytes" in message
    assert "'small' holds 100" in message and "fix:" in message
