"""A conv core's packets scatter its shared kernel exactly as the conv written out as a matrix
adds the spikes' columns, one packet at a time (repeated packets add again), onto its own
slice only; the fast path's whole-layer sums are the conv's sums before the shift."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from snapdeploy.backends.spinnaker.conv_synapses import ConvCore, layer_sums
from tests.backends.spinnaker.test_conv_slicing import as_matrix, synapses

SETTINGS = settings(max_examples=40, deadline=None)


@SETTINGS
@given(synapses(), st.integers(1, 3), st.data())
def test_packets_add_their_kernel_taps_onto_the_slice(conv, batch, data) -> None:
    lo = data.draw(st.integers(0, conv.n_out - 1))
    hi = data.draw(st.integers(lo + 1, conv.n_out))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    n_packets = data.draw(st.integers(0, 60))
    item, pre = rng.integers(0, batch, n_packets), rng.integers(0, conv.n_in, n_packets)
    counts = np.zeros((batch, conv.n_in), np.int64)
    np.add.at(counts, (item, pre), 1)
    core = ConvCore(conv, lo, hi)
    matrix = as_matrix(conv)
    np.testing.assert_array_equal(core.sums(item, pre, batch), counts @ matrix[lo:hi].T)
    np.testing.assert_array_equal(core.has_synapse(pre), np.any(matrix[lo:hi, pre] != 0, axis=0))


@SETTINGS
@given(synapses(), st.integers(0, 2**32 - 1))
def test_the_fast_paths_layer_sums_are_the_unshifted_conv(conv, seed) -> None:
    fired = np.random.default_rng(seed).random((2, conv.n_in)) < 0.4
    np.testing.assert_array_equal(layer_sums(conv)(fired), conv.sums(fired) >> conv.weight_exp)
