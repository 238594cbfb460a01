"""A float `HybridNet`'s Brevitas twin: the same network with quantized layers, for QAT.

Dense `nn.Linear`/`nn.Conv2d` become Brevitas `QuantLinear`/`QuantConv2d` (per-tensor or
per-channel scales, float or power of two); each `SpikingLinear` becomes a
`QuantSpikingLinear` (a Brevitas synapse into the exact integer LIF). A spiking layer has one
threshold and one weight exponent for all its neurons, so its weight scale is per tensor
whatever is asked for dense layers. Each `SpikeEncoder` becomes a `QuantSpikeEncoder`, whose
input passes a Brevitas activation quantizer first (exported as a "quant_act" op). A
`SpikeSource` (spike input) passes its spikes through, with nothing to quantize. It, decoders and
shape layers stay as they are: they run in float on the dense device in a deployment too. The
twin keeps every stage's name, so its artifact names layers as post-training export does.
"""

from __future__ import annotations

import copy
import sys
from dataclasses import dataclass

from snapdeploy.core.errors import ParameterRangeError, UnsupportedLayerError
from snapdeploy.core.extras import needs
from snapdeploy.nn.boundary import SpikeDecoder, SpikeEncoder, SpikeSource
from snapdeploy.nn.hybrid import HybridNet, SpikingConv, SpikingLinear
from snapdeploy.nn.image_source import channels_last
from snapdeploy.quant.export import SUPPORTED_LAYERS, lava_weight_step, refuse_settings
from snapdeploy.quant.spiking_twin import QuantSpikingLinear

with needs("train", __name__):
    import torch
    from brevitas.core.scaling.standalone import ParameterFromRuntimeStatsScaling
    from brevitas.nn import QuantConv2d, QuantIdentity, QuantLinear
    from brevitas.quant import (
        Int8WeightPerChannelFloat,
        Int8WeightPerTensorFixedPoint,
        Int8WeightPerTensorFloat,
        Uint8ActPerTensorFloat,
    )
    from brevitas.quant.fixed_point import Int8WeightPerChannelFixedPoint
    from torch import nn

#: Brevitas weight quantizers by (per_channel, power_of_two); the bit width is overridden.
WEIGHT_QUANTS: dict[tuple[bool, bool], type] = {
    (False, False): Int8WeightPerTensorFloat,
    (False, True): Int8WeightPerTensorFixedPoint,
    (True, False): Int8WeightPerChannelFloat,
    (True, True): Int8WeightPerChannelFixedPoint,
}
#: Stages that run unchanged in the twin (float on the dense side of every deployment).
KEPT_STAGES = (
    nn.ReLU,
    nn.Flatten,
    nn.MaxPool2d,
    nn.AvgPool2d,
    nn.Identity,
    nn.Dropout,
    SpikeEncoder,
    SpikeDecoder,
    SpikeSource,
)


@dataclass(frozen=True)
class QuantSpec:
    """What the user chose: weight bits of spiking and dense layers, the scale kind, and the
    bits of the activation entering each encoder (0: left in float)."""

    bits: int = 8  # spiking synapses: Lava keeps 2**bits levels, multiples of 2**(9 - bits)
    dense_bits: int = 8
    per_channel: bool = False  # dense layers only
    power_of_two: bool = False  # scales 2**k; in a spiking layer the integer scale is then a shift
    act_bits: int = 8

    def check(self) -> None:
        lava_weight_step(self.bits)
        if not 2 <= self.dense_bits <= 16:
            raise ParameterRangeError(
                f"dense_bits={self.dense_bits} must lie in 2..16; fix: choose 2 to 16"
            )
        if self.act_bits != 0 and not 2 <= self.act_bits <= 16:
            raise ParameterRangeError(
                f"act_bits={self.act_bits} must be 0 (off) or lie in 2..16; fix: choose 0 or 2 to 16"
            )


class QuantSpikeEncoder(SpikeEncoder):
    """A `SpikeEncoder` whose dense input is fake-quantized by Brevitas first.

    The quantizer is unsigned: the encoder repeats its input every step with a positive
    threshold, so a negative input never spikes, exactly as zero does; all levels go to x >= 0.
    The twin of an `ImageSpikeEncoder` keeps its `channels_first` and reorders its spikes so.
    """

    def __init__(self, source: SpikeEncoder, bits: int):
        super().__init__(source.n, source.steps, dv=source.dv)
        self.log_threshold.data.copy_(source.log_threshold.data)
        self.channels_first: tuple[int, int, int] | None = getattr(source, "channels_first", None)
        self.input_quant = QuantIdentity(
            act_quant=Uint8ActPerTensorFloat, bit_width=bits, return_quant_tensor=False
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spikes = super().forward(self.input_quant(x))
        return spikes if self.channels_first is None else channels_last(spikes, self.channels_first)


@torch.no_grad()
def calibrate_activations(twin: HybridNet, inputs: torch.Tensor, batch_size: int) -> None:
    """Set every uncalibrated activation scale from Brevitas' statistics over `inputs`.

    Brevitas otherwise collects them during the first training steps, in a counter outside
    the state dict, so a fine-tune resumed from a checkpoint would diverge from an
    uninterrupted one; calibrating up front is deterministic and starts QAT from a fitted scale.
    (What `brevitas.graph.calibrate.calibration_mode` does, without importing brevitas.graph,
    which warns on import.)
    """
    fresh = [
        m
        for m in twin.modules()
        if isinstance(m, ParameterFromRuntimeStatsScaling) and m.counter == 0
    ]
    if not fresh:
        return
    twin.eval()
    for scaling in fresh:
        scaling.collect_stats_steps = sys.maxsize - 1  # collect over every batch
        scaling.momentum = None  # a plain average, not an exponential one
        scaling.train()
    for start in range(0, len(inputs), batch_size):
        twin(inputs[start : start + batch_size])
    for scaling in fresh:
        scaling.init_scale()
        scaling.eval()


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
            module.in_channels,
            module.out_channels,
            module.kernel_size,
            stride=module.stride,
            padding=module.padding,
            dilation=module.dilation,
            groups=module.groups,
            **quant,
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
    if isinstance(stage, SpikingConv):
        raise UnsupportedLayerError(
            f"layer '{name}' is a SpikingConv, which quantization-aware training does not "
            f"convert (it has no integer twin yet); fix: export it post-training "
            f"(snapdeploy.quant.export.export_model)"
        )
    if isinstance(stage, (nn.Linear, nn.Conv2d)):
        refuse_settings(name, stage)
        return quant_dense(stage, spec)
    if isinstance(stage, SpikeEncoder) and spec.act_bits:
        return QuantSpikeEncoder(stage, spec.act_bits)
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
