"""An exported integer graph back as a float `HybridNet`, so a .snap can be written as NIR.

Spiking layers are expressed in the integer neuron's own units (one unit of `a`): weights
`W * 2**weight_exp`, threshold `vth`, bias `(bias_mant << bias_exp) / 64`,
`du = (du + 1) / 4096`, `dv = dv / 4096`. The float LIF then differs from the integer one
only by the integer arithmetic's rounding (decays round toward zero, a negative weight_exp
floors) and its 24-bit current wrap, which export keeps out of reach. Dense, encoder and
decoder ops are rebuilt exactly as the torch backend runs them.
"""

from __future__ import annotations

import torch

from snapdeploy.backends.torch_dense import op_module
from snapdeploy.core.errors import UnsupportedLayerError
from snapdeploy.core.graph import ModelGraph, SpikingOp
from snapdeploy.core.neuron import ACT_SHIFT, DECAY_UNITY, DU_OFFSET
from snapdeploy.nn import HybridNet, SpikingLinear


def spiking_module(op: SpikingOp) -> SpikingLinear:
    p = op.params
    if p.kinds != {"dense"}:
        raise UnsupportedLayerError(
            f"layer '{op.name}' is a {' + '.join(sorted(p.kinds))} layer, which the NIR export "
            f"does not write (it writes Dense layers that reset to zero); fix: export the "
            f"model with --format netx"
        )
    layer = SpikingLinear(
        p.n_in,
        p.n_out,
        du=(p.du + DU_OFFSET) / DECAY_UNITY,
        dv=p.dv / DECAY_UNITY,
        vth=float(p.vth),
    )
    with torch.no_grad():
        layer.synapse.weight.copy_(
            torch.from_numpy(p.weights.astype("float64") * 2.0**p.weight_exp)
        )
        bias = p.bias_mant.astype("float64") * 2.0**p.bias_exp / (1 << ACT_SHIFT)
        layer.lif.bias.copy_(torch.from_numpy(bias))
    return layer


def hybrid_from_graph(graph: ModelGraph) -> HybridNet:
    """The float net an integer graph stands for (see the module docstring for the units)."""
    stages = [
        spiking_module(op) if isinstance(op, SpikingOp) else op_module(op) for op in graph.ops
    ]
    return HybridNet(*stages, input_shape=graph.input_shape, steps=graph.steps)
