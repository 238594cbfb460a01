"""The parameter image every FPGA core loads: its sections in order, a reset word per layer,
Dense mantissas halved and input-major, conv kernels unhalved in scatter order, and a delay
section only where a layer has delays (so a Dense partition's image is what the RTL core
reads)."""

from __future__ import annotations

import numpy as np

from snapdeploy.backends.fpga.params import (
    LAYER_WORDS,
    parameter_image,
    scatter_kernel,
    weight_bits,
)
from snapdeploy.core.conv import ConvLayerParams, ConvSynapse
from snapdeploy.core.neuron import LifLayerParams
from tests.models import spiking_partition


def dense(weights: list[list[int]], **extra) -> LifLayerParams:
    n = len(weights)
    return LifLayerParams(np.array(weights), -2, 10, 20, 30, np.arange(n), 1, **extra)


def test_a_dense_image_is_layer_words_biases_and_halved_input_major_mantissas() -> None:
    image = parameter_image([dense([[2, -4], [6, 8]], reset="subtract")])
    assert LAYER_WORDS == 6
    assert image.tolist() == [-2, 10, 20, 30, 1, 1, 0, 1, 1, 3, -2, 4]


def test_delays_follow_the_weights_input_major_and_only_for_delay_layers() -> None:
    delays = np.array([[5, 0], [1, 62]])
    layers = [dense([[2, 4], [6, 8]]), dense([[2, 2], [2, 2]], delays=delays)]
    image = parameter_image(layers)
    plain = parameter_image(layers[:1])
    assert len(image) == 2 * LAYER_WORDS + 4 + 8 + 4
    assert image[-4:].tolist() == [5, 1, 0, 62]
    assert len(plain) == LAYER_WORDS + 2 + 4  # no delay section without delays


def test_a_conv_layer_stores_its_kernel_unhalved_in_scatter_order() -> None:
    weights = np.array([-255, 3, 7, 255]).reshape(2, 1, 2, 1)  # odd weights, as Lava's Conv
    conv = ConvSynapse(weights, (3, 3, 1), weight_exp=4)
    layer = ConvLayerParams(conv, 1, 2, 3, np.zeros(conv.n_out, int), 0)
    image = parameter_image([layer])
    assert image[0] == 4  # the conv's weight_exp in the layer words
    kernel = image[LAYER_WORDS + conv.n_out :]
    np.testing.assert_array_equal(kernel, scatter_kernel(conv).ravel())
    assert sorted(kernel.tolist()) == [-255, 3, 7, 255]
    assert weight_bits(spiking_partition([layer])) == 9
