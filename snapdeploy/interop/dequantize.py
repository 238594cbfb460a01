"""An exported integer graph back as a float `HybridNet`, so a .snap can be written as NIR.

Spiking layers are expressed in the integer neuron's own units (one unit of `a`): weights
`W * 2**weight_exp` (a conv's kernel flipped back into torch's correlating form, a sum pool
as the constant depthwise conv it is), threshold `vth`, bias `(bias_mant << bias_exp) / 64`,
`du = (du + 1) / 4096`, `dv = dv / 4096`. The float LIF then differs from the integer one
only by the integer arithmetic's rounding (decays round toward zero, a negative weight_exp
floors) and its 24-bit current wrap, which export keeps out of reach. Dense, encoder and
decoder ops are rebuilt exactly as the torch backend runs them.
"""

from __future__ import annotations

import torch

from snapdeploy.backends.torch_dense import op_module
from snapdeploy.core.conv import ConvLayerParams, PoolSynapse
from snapdeploy.core.errors import UnsupportedLayerError
from snapdeploy.core.graph import ModelGraph, SpikingOp
from snapdeploy.core.neuron import ACT_SHIFT, DECAY_UNITY, DU_OFFSET
from snapdeploy.nn import HybridNet, SpikingConv, SpikingLinear


def spiking_module(op: SpikingOp) -> SpikingLinear | SpikingConv:
    p = op.params
    if "subtract_reset" in p.kinds:
        raise UnsupportedLayerError(
            f"layer '{op.name}' resets by subtraction, which NIR cannot say (its LIF has no "
            f"reset mode, and readers reset to zero); fix: keep the .snap, or import the source "
            f"with --reset zero"
        )
    if not p.kinds <= {"dense", "conv", "pool"}:
        raise UnsupportedLayerError(
            f"layer '{op.name}' is a {' + '.join(sorted(p.kinds))} layer, which the NIR export "
            f"does not write (NIR has no axonal delay per synapse); fix: export the model with "
            f"--format netx"
        )
    settings = {
        "du": (p.du + DU_OFFSET) / DECAY_UNITY,
        "dv": p.dv / DECAY_UNITY,
        "vth": float(p.vth),
    }
    if isinstance(p, ConvLayerParams):
        conv = p.synapse.conv if isinstance(p.synapse, PoolSynapse) else p.synapse
        layer = SpikingConv(conv.input_shape, conv.weights.shape[0], conv.kernel, conv.stride,
                            conv.padding, conv.dilation, conv.groups, **settings)  # fmt: skip
        # Lava's convolving [C_out, x, y, C_in / g] back to torch's correlating kernel
        weight = conv.weights[:, ::-1, ::-1, :].transpose(0, 3, 1, 2) * 2.0**conv.weight_exp
    else:
        layer = SpikingLinear(p.n_in, p.n_out, **settings)
        weight = p.weights * 2.0**p.weight_exp
    with torch.no_grad():
        layer.synapse.weight.copy_(torch.from_numpy(weight.astype("float64")))
        bias = p.bias_mant.astype("float64") * 2.0**p.bias_exp / (1 << ACT_SHIFT)
        layer.lif.bias.copy_(torch.from_numpy(bias))
    return layer


def hybrid_from_graph(graph: ModelGraph) -> HybridNet:
    """The float net an integer graph stands for (see the module docstring for the units)."""
    stages = [
        spiking_module(op) if isinstance(op, SpikingOp) else op_module(op) for op in graph.ops
    ]
    return HybridNet(*stages, input_shape=graph.input_shape, steps=graph.steps)
