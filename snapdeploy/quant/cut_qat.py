"""Brevitas QAT of the dense layers inside a cut model's dies, at any depth of any stage.

`quantize_dies(net, spec)` gives a twin of a `SnapCutNet` in which every `nn.Linear` and
`nn.Conv2d` inside every die (attention projections, MLPs, residual convs: wherever the
user's stages nest them) is a Brevitas `QuantLinear`/`QuantConv2d` with `spec.dense_bits`
weights, swapped layer by layer. Activations inside a die stay float: a die runs on a dense
device. The spike boundaries are not touched: their integers are exact by construction.

Fine-tune the twin with your own loop (the task loss is yours), then `fold_quantized(twin)`
gives a plain `SnapCutNet` whose layers hold the quantized weights (integer times scale: the
very values the twin trained with, so its forward is the twin's), which `export_cut` exports
like any model. `quantized_weights(twin)` lists each layer's integers and scale, what an
integer accelerator would load.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from snapdeploy.core.errors import ModelStructureError
from snapdeploy.core.extras import needs
from snapdeploy.nn.snap_cut import SnapCutNet
from snapdeploy.quant.brevitas_twin import QuantSpec, quant_dense
from snapdeploy.quant.export import refuse_settings

with needs("train", __name__):
    import torch
    from brevitas.nn import QuantConv2d, QuantLinear
    from torch import nn

#: The float layers the twin quantizes (exact types: Brevitas' layers subclass them).
FLOAT_LAYERS = (nn.Linear, nn.Conv2d)
QUANT_LAYERS = (QuantLinear, QuantConv2d)


@dataclass(frozen=True)
class QuantizedWeight:
    """One layer's weights as the integers and scale QAT settled on."""

    integers: np.ndarray  # int, the weight's shape
    scale: np.ndarray  # float, broadcastable to it (per tensor or per output channel)
    bits: int


def dense_layers(net: SnapCutNet, kinds: tuple[type, ...]) -> list[tuple[int, str, nn.Module]]:
    """(die, qualified name, module) of every layer of exactly one of `kinds` in the dies."""
    return [
        (k, name, module)
        for k, die in enumerate(net.dies)
        for name, module in die.named_modules()
        if type(module) in kinds
    ]


def copy_net(net: SnapCutNet) -> SnapCutNet:
    """A deep copy without the last forward's spike rates (tensors inside autograd's graph,
    which deepcopy refuses; the copy's next forward sets its own)."""
    rates = (getattr(m, "last_rate", None) for m in net.modules())
    return copy.deepcopy(net, {id(rate): None for rate in rates if rate is not None})


def quantize_dies(net: SnapCutNet, spec: QuantSpec) -> SnapCutNet:
    """A deep copy of `net` with every Linear/Conv2d in its dies a Brevitas layer."""
    if not isinstance(net, SnapCutNet):
        raise ModelStructureError(
            f"quantize_dies takes a SnapCutNet, got {type(net).__name__}; fix: cut the model "
            f"with snapdeploy.nn.snap_cut first"
        )
    spec.check()
    twin = copy_net(net)
    layers = dense_layers(twin, FLOAT_LAYERS)
    if not layers:
        raise ModelStructureError(
            "no nn.Linear or nn.Conv2d inside any die: nothing for QAT to quantize; fix: "
            "quantize a model whose stages hold such layers"
        )
    for k, name, module in layers:
        refuse_settings(f"die{k}.{name}", module)
        twin.dies[k].set_submodule(name, quant_dense(module, spec))
    return twin


def float_twin(layer: nn.Module) -> nn.Module:
    """The plain torch layer computing what a Brevitas layer computes, with its quantized
    weights as ordinary parameters (torch.export and every runtime take it as is)."""
    weight = layer.quant_weight().value.detach()
    bias = layer.bias is not None
    if isinstance(layer, QuantLinear):
        plain = nn.Linear(layer.in_features, layer.out_features, bias=bias)
    else:
        plain = nn.Conv2d(
            layer.in_channels, layer.out_channels, layer.kernel_size, stride=layer.stride,
            padding=layer.padding, dilation=layer.dilation, groups=layer.groups, bias=bias,
        )  # fmt: skip
    with torch.no_grad():
        plain.weight.copy_(weight)
        if bias:
            plain.bias.copy_(layer.bias)
    return plain.to(weight.device)


def fold_quantized(twin: SnapCutNet) -> SnapCutNet:
    """A deep copy of a fine-tuned twin with each Brevitas layer folded to a plain one."""
    folded = copy_net(twin)
    layers = dense_layers(folded, QUANT_LAYERS)
    if not layers:
        raise ModelStructureError(
            "the model holds no Brevitas layers; fix: fold the twin quantize_dies returned"
        )
    for k, name, layer in layers:
        folded.dies[k].set_submodule(name, float_twin(layer))
    return folded


def quantized_weights(twin: SnapCutNet) -> dict[str, QuantizedWeight]:
    """Each Brevitas layer's integers and scale, by "die<k>.<name>"."""
    out = {}
    with torch.no_grad():
        for k, name, layer in dense_layers(twin, QUANT_LAYERS):
            weight = layer.quant_weight()
            out[f"die{k}.{name}"] = QuantizedWeight(
                weight.int().cpu().numpy().astype(np.int64),
                weight.scale.cpu().numpy(),
                int(weight.bit_width.item()),
            )
    return out
