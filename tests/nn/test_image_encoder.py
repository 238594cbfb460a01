"""The encoder of NIR-ordered images: a `SpikeEncoder`'s spikes, reordered channels-last,
(H, W, C) flattened; its QAT twin keeps the reorder."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from snapdeploy.core.errors import ParameterRangeError
from snapdeploy.nn.boundary import SpikeEncoder
from snapdeploy.nn.image_encoder import ImageSpikeEncoder


def channels_last(spikes: np.ndarray, dims: tuple[int, int, int]) -> np.ndarray:
    """[T, batch, C*H*W] from (C, H, W) -> (H, W, C), with numpy, apart from the module."""
    steps, batch, _ = spikes.shape
    return spikes.reshape(steps, batch, *dims).transpose(0, 1, 3, 4, 2).reshape(steps, batch, -1)


@settings(max_examples=20, deadline=None)
@given(
    dims=st.tuples(st.integers(1, 4), st.integers(1, 5), st.integers(1, 5)),
    steps=st.integers(1, 6),
    threshold=st.floats(0.2, 3.0),
    dv=st.sampled_from([0.0, 0.25, 0.9]),
    seed=st.integers(0, 2**16),
)
def test_spikes_are_the_plain_encoders_reordered(dims, steps, threshold, dv, seed):
    x = torch.from_numpy(np.random.default_rng(seed).random((3, int(np.prod(dims))))).float() * 2
    image = ImageSpikeEncoder(dims, steps, threshold, dv)
    with torch.no_grad():
        plain = SpikeEncoder(x.shape[1], steps, threshold, dv)(x).numpy()
        np.testing.assert_array_equal(image(x).numpy(), channels_last(plain, dims))
    assert image.sparsity_loss().item() == pytest.approx(plain.mean())


def test_gradient_flows_back_through_the_reorder():
    """With the rate gradient, each input gets its own neuron's gradient, in NIR's order."""
    dims = (2, 2, 3)
    x = torch.linspace(0.1, 0.9, 12).requires_grad_()
    encoder = ImageSpikeEncoder(dims, 4, threshold=1.0, gradient="rate")
    weight = torch.arange(12.0)  # a distinct weight per output (channels-last) position
    (encoder(x[None]).sum(0)[0] * weight).sum().backward()
    reordered = torch.from_numpy(channels_last(np.arange(12.0)[None, None], dims)[0, 0])
    want = torch.empty(12)
    want[reordered.long()] = weight  # input i is output position where i lands
    np.testing.assert_allclose(x.grad.numpy(), (want * 4).numpy(), rtol=1e-6)


@pytest.mark.parametrize("dims", [(2, 3), (0, 4, 4), (2, -1, 3)])
def test_dims_that_are_not_an_image_are_refused(dims):
    with pytest.raises(ParameterRangeError, match=r"\(C, H, W\)"):
        ImageSpikeEncoder(dims, 4)


def test_the_qat_twin_keeps_the_reorder():
    """QuantSpikeEncoder of an image encoder: its spikes are the image encoder's on the
    quantized input, and its export records channels_first."""
    from snapdeploy.quant.brevitas_twin import QuantSpikeEncoder
    from snapdeploy.quant.export import stage_op

    dims = (3, 2, 2)
    source = ImageSpikeEncoder(dims, 5, threshold=0.7, dv=0.25)
    twin = QuantSpikeEncoder(source, 8).eval()
    x = torch.rand(4, 12)
    with torch.no_grad():
        quantized = twin.input_quant(x)
        np.testing.assert_array_equal(twin(x).numpy(), source(quantized).numpy())
    assert stage_op("enc", twin, 8, 8).channels_first == dims
    assert QuantSpikeEncoder(SpikeEncoder(12, 5), 8).channels_first is None
