"""Spiking convolution and sum pooling (`core.conv`) against Lava 0.10 itself: its own
`conv` function (many random cases: shapes, strides, padding, dilation, groups), and real
`Conv` + `LIF` processes run in `fixed_pt` (few cases: Lava is slow); then the 24-bit wrap,
pooling by hand, and every refusal naming the layer."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lava.proc.conv import utils as lava_conv

from snapdeploy.core.conv import ConvLayerParams, ConvSynapse, PoolSynapse
from snapdeploy.core.errors import ParameterRangeError
from snapdeploy.core.neuron import ReferenceNetwork
from tests.lava_oracle import assert_reference_runs_as_lava
from tests.strategies import conv_layer, conv_synapse, pool_synapse, random_spikes

FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LAVA_RUNS = settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def lava_activation(synapse: ConvSynapse, image: np.ndarray) -> np.ndarray:
    """What Lava's PyConvModelFixed computes for one flat spike image."""
    shifted = np.left_shift(synapse.weights.astype(np.int32), synapse.weight_exp)
    out = lava_conv.conv(
        image.reshape(synapse.input_shape).astype(np.int32), shifted, synapse.kernel,
        synapse.stride, synapse.padding, synapse.dilation, synapse.groups,
    )  # fmt: skip
    assert out.shape == synapse.output_shape
    return lava_conv.signed_clamp(out, bits=24).reshape(-1)


@FAST
@given(synapse=st.one_of(conv_synapse(), pool_synapse()), seed=st.integers(0, 2**32 - 1))
def test_activation_equals_lavas_conv(synapse: ConvSynapse | PoolSynapse, seed: int) -> None:
    synapse.validate("c")
    spikes = random_spikes((2, 3, synapse.n_in), 0.4, seed)
    ours = synapse.activation(spikes)
    conv = synapse.conv if isinstance(synapse, PoolSynapse) else synapse
    for index in np.ndindex(spikes.shape[:2]):
        np.testing.assert_array_equal(ours[index], lava_activation(conv, spikes[index]))


@LAVA_RUNS
@given(layer=conv_layer(), seed=st.integers(0, 2**32 - 1))
def test_conv_and_pool_layers_run_as_real_lava_does(layer: ConvLayerParams, seed: int) -> None:
    layer.validate("c")
    assert_reference_runs_as_lava(layer, random_spikes((10, layer.n_in), 0.5, seed))


def test_sums_beyond_24_bits_wrap_as_lavas_signed_clamp() -> None:
    channels = 33_000  # 255 * 33000 = 8_415_000 > 2**23
    synapse = ConvSynapse(np.full((1, 1, 1, channels), 255), (1, 1, channels))
    synapse.validate("wide")
    assert synapse.activation(np.ones((1, channels), dtype=bool)).tolist() == [
        [8_415_000 - (1 << 24)]
    ]


def test_pool_sums_each_window_of_each_channel_times_its_weight() -> None:
    pool = PoolSynapse((2, 2), 3, (4, 2, 2))
    image = np.zeros((4, 2, 2), dtype=bool)
    image[0, 0, 0] = image[1, 1, 0] = image[3, 0, 1] = True
    assert pool.output_shape == (2, 1, 2)
    # windows x 0..1 and 2..3; channel 0 holds two spikes in the first, channel 1 one in the second
    assert pool.activation(image.reshape(-1)).tolist() == [6, 0, 0, 3]


def test_the_kernel_is_flipped_as_in_a_true_convolution() -> None:
    synapse = ConvSynapse(np.array([1, 2, 4]).reshape(1, 3, 1, 1), (3, 1, 1))
    first = np.array([True, False, False])
    # Lava convolves: the spike at x=0 meets the kernel's last tap
    assert synapse.activation(first).tolist() == [4]


def test_reference_network_chains_conv_pool_compiled_as_numpy_runs_them() -> None:
    conv = ConvSynapse(2 * np.ones((2, 3, 3, 1), dtype=int), (6, 6, 1), padding=(1, 1))
    pool = PoolSynapse((2, 2), 4, conv.output_shape)
    layers = [
        ConvLayerParams(conv, 0, 100, 3, np.zeros(conv.n_out, int), 0),
        ConvLayerParams(pool, 0, 100, 5, np.zeros(pool.n_out, int), 0, reset="subtract"),
    ]
    for layer in layers:
        layer.validate("l")
    spikes = random_spikes((12, 2, conv.n_in), 0.4, 5)
    compiled, numpy_only = ReferenceNetwork(layers), ReferenceNetwork(layers, native=False)
    assert compiled.native is None or all(compiled.native)  # both layers compiled whole
    out = compiled.run(spikes, record_all=True)
    assert [o.shape for o in out] == [(12, 2, 72), (12, 2, 18)]
    assert out[1].any()
    for got, want in zip(out, numpy_only.run(spikes, record_all=True)):
        np.testing.assert_array_equal(got, want)


GOOD = {"weights": np.ones((4, 2, 2, 2), int), "input_shape": (5, 5, 4), "groups": 2}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"groups": 3}, "groups=3 must divide both 4 input and 4 output"),
        ({"input_shape": (5, 5, 2)}, "kernel takes 2 input channels per group"),
        ({"weights": np.ones((4, 2, 2), int)}, r"weights \[C_out, kx, ky, C_in / groups\]"),
        ({"stride": (0, 1)}, r"stride \(0, 1\) must be at least 1"),
        ({"padding": (-1, 0)}, r"padding \(-1, 0\) must be at least 0"),
        ({"input_shape": (1, 5, 4)}, "leaves no output; fix: pad more"),
        ({"weights": np.full((4, 2, 2, 2), 256)}, r"conv weights span \[256, 256\]"),
        ({"weight_exp": -1}, r"weight_exp span \[-1, -1\].*no right shift"),
        (
            {
                "weight_exp": 7,
                "weights": np.full((4, 128, 128, 8), 255),
                "input_shape": (128, 128, 8),
                "groups": 1,
            },
            "beyond Lava's int32",
        ),
    ],
)
def test_conv_refusals_name_the_layer_and_the_fix(change: dict, message: str) -> None:
    with pytest.raises(ParameterRangeError, match=rf"layer 'conv\.2'.*{message}"):
        ConvSynapse(**{**GOOD, **change}).validate("conv.2")


def test_a_pool_that_does_not_tile_its_input_is_refused() -> None:
    with pytest.raises(ParameterRangeError, match=r"layer 'p'.*must tile its \(5, 4\) input"):
        PoolSynapse((2, 2), 1, (5, 4, 1)).validate("p")


def test_conv_layer_kinds_and_neuron_checks() -> None:
    pool = PoolSynapse((2, 2), 1, (2, 2, 1))
    assert ConvLayerParams(pool, 0, 0, 1, np.zeros(1, int), 0).kinds == {"pool"}
    conv = ConvLayerParams(pool.conv, 0, 0, 1, np.zeros(1, int), 0, reset="subtract")
    assert conv.kinds == {"conv", "subtract_reset"}
    with pytest.raises(ParameterRangeError, match="layer 'n'.*bias_mant has shape"):
        ConvLayerParams(pool, 0, 0, 1, np.zeros(2, int), 0).validate("n")
    with pytest.raises(ParameterRangeError, match="layer 'n'.*reset 'hard'"):
        ConvLayerParams(pool, 0, 0, 1, np.zeros(1, int), 0, reset="hard").validate("n")


def test_synapses_count_the_pairs_a_non_zero_tap_joins() -> None:
    # three inputs along x, a 3-tap kernel padded by one: outputs see 2, 3 and 2 inputs
    conv = ConvSynapse(np.array([4, 0, 2]).reshape(1, 3, 1, 1), (3, 1, 1), padding=(1, 0))
    assert conv.synapses == 1 + 2 + 1  # the zero middle tap joins nothing
    assert PoolSynapse((2, 2), 3, (4, 2, 2)).synapses == 16  # each input feeds one output
    assert PoolSynapse((2, 2), 0, (4, 2, 2)).synapses == 0
