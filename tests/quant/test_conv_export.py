"""`SpikingConv` exported to Lava's Conv + LIF: the float layer and the integer one agree."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from snapdeploy.core.conv import ConvSynapse, PoolSynapse
from snapdeploy.core.neuron import ReferenceNetwork
from snapdeploy.nn import HybridNet, SpikeSource, SpikingBlock, SpikingConv
from snapdeploy.quant.export import export_model


def exported(*layers: SpikingConv, steps: int = 30):
    n_in = int(np.prod(layers[0].input_shape))
    net = HybridNet(SpikeSource(n_in, steps), SpikingBlock(*layers), input_shape=(steps, n_in),
                    steps=steps)  # fmt: skip
    return [op.params for op in export_model(net).spiking_ops()]


@pytest.mark.parametrize("reset", ["zero", "subtract"])
def test_dyadic_conv_agrees_spike_for_spike(reset: str) -> None:
    """No rounding: max |w| = 255/256 makes the scale 2**15 (exponent 7), du = 1 and dv = 0
    make the decays exact, so integer state is 64 * 2**15 times the float state."""
    rng = np.random.default_rng(3)
    layer = SpikingConv((7, 6, 4), 6, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2),
                        groups=2, du=1.0, dv=0.0, vth=1.0, reset=reset)  # fmt: skip
    weight = rng.integers(-40, 41, size=layer.synapse.weight.shape) / 256  # current in range
    weight.flat[0] = 255 / 256
    with torch.no_grad():
        layer.synapse.weight.copy_(torch.from_numpy(weight))
        layer.lif.bias.copy_(torch.from_numpy(rng.integers(-8, 8, layer.lif.n) / 64))
    (params,) = exported(layer)
    assert isinstance(params.synapse, ConvSynapse) and params.synapse.weight_exp == 7
    assert params.vth == 1 << 15 and params.reset == reset
    s_in = rng.random((30, 3, 7 * 6 * 4)) < 0.4
    expected = layer(torch.from_numpy(s_in).float()).detach().numpy().astype(bool)
    (got,) = ReferenceNetwork([params]).run(s_in)
    assert expected.sum() > 50
    np.testing.assert_array_equal(got, expected)


def test_the_kernel_is_flipped_into_lavas_convolving_layout() -> None:
    layer = SpikingConv((5, 4, 2), 3, (3, 2))
    with torch.no_grad():
        layer.synapse.weight.copy_(torch.arange(3 * 2 * 3 * 2).reshape(3, 2, 3, 2) - 15.5)
    (params,) = exported(layer)
    torch_kernel = params.synapse.weights[:, ::-1, ::-1, :].transpose(0, 3, 1, 2)
    # distinct increasing weights: the integer kernel, unflipped, keeps their order exactly
    order = np.argsort(layer.synapse.weight.detach().numpy().ravel())
    assert np.all(np.diff(torch_kernel.ravel()[order]) > 0)


def test_a_constant_depthwise_kernel_tiling_its_input_is_a_sum_pool() -> None:
    pool = SpikingConv((6, 4, 3), 3, 2, stride=2, groups=3, vth=2.0)
    with torch.no_grad():
        pool.synapse.weight.fill_(1.0)
    (params,) = exported(pool)
    assert isinstance(params.synapse, PoolSynapse) and params.kinds == {"pool"}
    s_in = np.random.default_rng(0).random((30, 2, 72)) < 0.5
    expected = pool(torch.from_numpy(s_in).float()).detach().numpy().astype(bool)
    np.testing.assert_array_equal(ReferenceNetwork([params]).run(s_in)[0], expected)
    with torch.no_grad():
        pool.synapse.weight[0, 0, 0, 0] = 0.5  # no longer one weight: stays a conv
    (params,) = exported(pool)
    assert isinstance(params.synapse, ConvSynapse)
