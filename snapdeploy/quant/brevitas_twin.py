"""A float `HybridNet`'s Brevitas twin: the same network with quantized layers, for QAT.

Dense `nn.Linear`/`nn.Conv2d` become Brevitas `QuantLinear`/`QuantConv2d` (per-tensor or
per-channel scales, float or power of two); each `SpikingLinear` becomes a
`QuantSpikingLinear` (a Brevitas synapse into the exact integer LIF). A spiking layer has one
threshold and one weight exponent for all its neurons, so its weight scale is per tensor
whatever is asked for dense layers. Encoders, decoders and shape layers stay as they are: they
run in float on the dense device in a deployment too. The twin keeps every stage's name, so
its artifact names layers as post-training export does.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from brevitas.nn import QuantConv2d, QuantLinear
from brevitas.quant import (
    Int8WeightPerChannelFloat,
    Int8WeightPerTensorFixedPoint,
    Int8WeightPerTensorFloat,
)
from brevitas.quant.fixed_point import Int8WeightPerChannelFixedPoint
from torch import nn

from snapdeploy.core.errors import ParameterRangeError, UnsupportedLayerError
from snapdeploy.nn.boundary import SpikeDecoder, SpikeEncoder
from snapdeploy.nn.hybrid import HybridNet, SpikingLinear
from snapdeploy.quant.export import SUPPORTED_LAYERS, lava_weight_step, refuse_settings
from snapdeploy.quant.spiking_twin import QuantSpikingLinear

#: Brevitas weight quantizers by (per_channel, power_of_two); the bit width is overridden.
WEIGHT_QUANTS: dict[tuple[bool, bool], type] = {
    (False, False): Int8WeightPerTensorFloat,
    (False, True): Int8WeightPerTensorFixedPoint,
    (True, False): Int8WeightPerChannelFloat,
    (True, True): Int8WeightPerChannelFixedPoint,
}
#: Stages that run unchanged in the twin (float on the dense side of every deployment).
KEPT_STAGES = (
    nn.ReLU, nn.Flatten, nn.MaxPool2d, nn.AvgPool2d, nn.Identity, nn.Dropout, SpikeEncoder,
    SpikeDecoder,
)


@dataclass(frozen=True)
class QuantSpec:
    """What the user chose: weight bits of spiking and dense layers, and the scale kind."""

    bits: int = 8  # spiking synapses: Lava keeps 2**bits levels, multiples of 2**(9 - bits)
    dense_bits: int = 8
    per_channel: bool = False  # dense layers only
    power_of_two: bool = False  # scales 2**k; in a spiking layer the integer scale is then a shift

    def check(self) -> None:
        lava_weight_step(self.bits)
        if not 2 <= self.dense_bits <= 16:
            raise ParameterRangeError(
                f"dense_bits={self.dense_bits} must lie in 2..16; fix: choose 2 to 16"
            )


def quant_dense(module: nn.Linear | nn.Conv2d, spec: QuantSpec) -> nn.Module:
    """A Brevitas layer with `module`'s settings and float weights."""
    quant = {
        "weight_quant": WEIGHT_QUANTS[spec.per_channel, spec.power_of_two],
        "weight_bit_width": spec.dense_bits,
        "bias": module.bias is not None,
    }
    if isinstance(module, nn.Linear):
        twin = QuantLinear(module.in_features, module.out_features, **quant)
    else:
        twin = QuantConv2d(
            module.in_channels, module.out_channels, module.kernel_size, stride=module.stride,
            padding=module.padding, dilation=module.dilation, groups=module.groups, **quant,
        )
    with torch.no_grad():
        twin.weight.copy_(module.weight)
        if module.bias is not None:
            twin.bias.copy_(module.bias)
    return twin


def twin_stage(name: str, stage: nn.Module, spec: QuantSpec) -> nn.Module:
    """The twin of one stage, or an error listing the layers snapdeploy supports."""
    if isinstance(stage, SpikingLinear):
        weight_quant = WEIGHT_QUANTS[False, spec.power_of_two]
        return QuantSpikingLinear(stage, weight_quant, spec.bits, name)
    if isinstance(stage, (nn.Linear, nn.Conv2d)):
        refuse_settings(name, stage)
        return quant_dense(stage, spec)
    if isinstance(stage, KEPT_STAGES):
        refuse_settings(name, stage)
        return stage
    raise UnsupportedLayerError(
        f"layer '{name}' is a {type(stage).__name__}, which quantization-aware training "
        f"cannot convert; supported: {SUPPORTED_LAYERS}"
    )


def make_twin(model: HybridNet, spec: QuantSpec) -> HybridNet:
    """A deep copy of `model` with every weight layer replaced by its quantized twin."""
    if not isinstance(model, HybridNet):
        raise UnsupportedLayerError(
            f"quantize takes a snapdeploy HybridNet, got {type(model).__name__}; fix: wrap "
            f"your layers in HybridNet(DenseBlock(...), SpikeEncoder(...), ...)"
        )
    spec.check()
    twin = copy.deepcopy(model)
    names = {id(m): n for n, m in twin.named_modules()}
    for stage in twin.stages():
        name = names[id(stage)]
        replacement = twin_stage(name, stage, spec)
        if replacement is not stage:
            twin.set_submodule(name, replacement)
    return twin
