"""The Lava synapse process of each layer kind, and the Var that holds what it sends next.

Dense layers become Lava's `Dense`, layers with delays its `DelayDense`, conv layers its `Conv`
and sum pools the depthwise `Conv` they are (`core.conv`). Weights are declared mixed-sign
with 8 bits, so Lava's own normalization leaves them as they are. Lava's fixed-point Conv
ignores `weight_exp`; ours is a left shift in [0, 7], so it is folded into the kernel (exact:
``(W << e) * s`` summed is the sum shifted).
"""

from __future__ import annotations

import numpy as np

from snapdeploy.core.conv import ConvLayerParams, PoolSynapse
from snapdeploy.core.extras import needs
from snapdeploy.core.neuron import LifLayerParams

with needs("lava", __name__):
    from lava.magma.core.process.process import AbstractProcess
    from lava.magma.core.process.variable import Var
    from lava.proc.conv.process import Conv
    from lava.proc.dense.process import DelayDense, Dense
    from lava.utils.weightutils import SignMode

WEIGHT_BITS = 8


def synapse_process(name: str, params: LifLayerParams | ConvLayerParams) -> AbstractProcess:
    """The Lava process computing this layer's synaptic activation."""
    if isinstance(params, ConvLayerParams):
        syn = params.synapse
        conv = syn.conv if isinstance(syn, PoolSynapse) else syn
        return Conv(
            weight=np.left_shift(conv.weights.astype(np.int32), conv.weight_exp),
            input_shape=conv.input_shape,
            stride=conv.stride,
            padding=conv.padding,
            dilation=conv.dilation,
            groups=conv.groups,
            name=f"{name}.conv",
        )
    dense = {
        "weights": params.weights.astype(np.int32),
        "weight_exp": int(params.weight_exp),
        "num_weight_bits": WEIGHT_BITS,
        "sign_mode": SignMode.MIXED,
    }
    if params.delays is None:
        return Dense(**dense, name=f"{name}.dense")
    # Lava checks the delays' dtype is exactly `int`
    return DelayDense(**dense, delays=params.delays.astype(int), name=f"{name}.delay_dense")


def pending(synapse: AbstractProcess) -> Var:
    """The Var holding what the synapse sends next (Conv calls it a_buf, Dense a_buff)."""
    return synapse.a_buf if isinstance(synapse, Conv) else synapse.a_buff
