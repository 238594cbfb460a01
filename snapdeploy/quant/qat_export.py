"""Export a Brevitas twin to the integer `ModelGraph`, from Brevitas' own quant tensors.

Dense layers take the integers and scales of `quant_weight()` (what the twin trained with,
not a fresh rounding); spiking layers take the integers their forward computed, so the
artifact runs spike for spike as the twin did. A quantized encoder input becomes a "quant_act"
op with Brevitas' own scale, before its encoder. Everything else (encoders, decoders, shape
layers) is exported as post-training export does.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from snapdeploy.core.extras import needs
from snapdeploy.core.graph import DenseOp, ModelGraph, Op, SpikingOp
from snapdeploy.nn.hybrid import HybridNet
from snapdeploy.quant.brevitas_twin import QuantSpec, QuantSpikeEncoder
from snapdeploy.quant.export import dense_op, stage_op
from snapdeploy.quant.spiking_twin import QuantSpikingLinear

with needs("train", __name__):
    import torch
    from brevitas.nn import QuantConv2d, QuantIdentity, QuantLinear
    from torch import nn


def brevitas_dense_op(name: str, module: QuantLinear | QuantConv2d, bits: int) -> DenseOp:
    """A dense op holding the layer's Brevitas integers and one float scale per channel."""
    op = dense_op(name, module, bits)
    quant = module.quant_weight()
    ints = quant.int().numpy().astype(np.int8 if bits <= 8 else np.int32)
    scale = quant.scale.reshape(-1).expand(ints.shape[0]).numpy().astype(np.float32)
    return dataclasses.replace(op, tensors={**op.tensors, "weight": ints, "weight_scale": scale})


def quant_act_op(name: str, module: QuantIdentity) -> DenseOp:
    """The activation quantizer's bits, sign and scale, read from the quant tensor it emits."""
    quant = module.act_quant(torch.zeros(1))
    attrs = {
        "bits": int(quant.bit_width.item()),
        "scale": float(quant.scale.reshape(()).item()),
        "signed": bool(quant.signed),
    }
    return DenseOp(name, "quant_act", attrs)


def twin_ops(name: str, stage: nn.Module, spec: QuantSpec) -> list[Op]:
    if isinstance(stage, QuantSpikingLinear):
        return [SpikingOp(name, stage.integer_lif().params(name))]
    if isinstance(stage, (QuantLinear, QuantConv2d)):
        return [brevitas_dense_op(name, stage, spec.dense_bits)]
    op = stage_op(name, stage, spec.bits, spec.dense_bits)
    if isinstance(stage, QuantSpikeEncoder):
        return [quant_act_op(f"{name}.input_quant", stage.input_quant), op]
    return [op] if op is not None else []


@torch.no_grad()
def export_twin(twin: HybridNet, spec: QuantSpec) -> ModelGraph:
    """The integer graph of a fine-tuned twin; a value outside its width raises a named error."""
    twin.eval()
    names = {id(m): n for n, m in twin.named_modules()}
    ops = [op for stage in twin.stages() for op in twin_ops(names[id(stage)], stage, spec)]
    return ModelGraph(
        ops=tuple(ops),
        input_shape=twin.input_shape,
        steps=twin.steps,
    )
