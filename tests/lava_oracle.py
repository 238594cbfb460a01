"""Real Lava 0.10 `fixed_pt` as an oracle: one synapse process (Conv, DelayDense) feeding a
LIF, driven from a ring buffer of spikes, its output spikes and final u, v read back. Used by
the core tests to prove the reference's conv, pooling and delay semantics against Lava itself
(slow: a few seconds a run, so tests draw few cases)."""

from __future__ import annotations

import numpy as np
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.run_conditions import RunSteps
from lava.magma.core.run_configs import Loihi2SimCfg
from lava.proc.conv.process import Conv
from lava.proc.dense.process import DelayDense
from lava.proc.io.sink import RingBuffer as SinkBuffer
from lava.proc.io.source import RingBuffer as SourceBuffer
from lava.proc.lif.process import LIF
from lava.utils.weightutils import SignMode

from snapdeploy.core.conv import ConvLayerParams, ConvSynapse, PoolSynapse
from snapdeploy.core.neuron import LifLayerParams


def conv_process(synapse: ConvSynapse | PoolSynapse) -> Conv:
    """Lava's Conv for our synapse: a pool is its depthwise conv, weight_exp a kernel shift."""
    conv = synapse.conv if isinstance(synapse, PoolSynapse) else synapse
    return Conv(
        weight=np.left_shift(conv.weights.astype(np.int32), conv.weight_exp),
        input_shape=conv.input_shape,
        stride=conv.stride,
        padding=conv.padding,
        dilation=conv.dilation,
        groups=conv.groups,
    )


def delay_dense_process(params: LifLayerParams) -> DelayDense:
    return DelayDense(
        weights=params.weights.astype(np.int32),
        delays=params.delays.astype(int),  # Lava checks for the dtype int itself
        weight_exp=int(params.weight_exp),
        num_weight_bits=8,
        sign_mode=SignMode.MIXED,
    )


def run_lava(
    params: ConvLayerParams | LifLayerParams, spikes: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Spikes bool [T, n_out] and the final u, v [n_out] real Lava gives for bool [T, n_in]."""
    if isinstance(params, ConvLayerParams):
        synapse: AbstractProcess = conv_process(params.synapse)
        in_shape, out_shape = synapse.input_shape, synapse.output_shape
    else:
        synapse = delay_dense_process(params)
        in_shape, out_shape = (params.n_in,), (params.n_out,)
    lif = LIF(
        shape=out_shape,
        du=int(params.du),
        dv=int(params.dv),
        vth=int(params.vth),
        bias_mant=params.bias_mant.reshape(out_shape).astype(np.int32),
        bias_exp=int(params.bias_exp),
    )
    steps = len(spikes)
    source = SourceBuffer(data=spikes.T.astype(np.int32))
    sink = SinkBuffer(shape=(params.n_out,), buffer=steps)
    source.s_out.reshape(in_shape).connect(synapse.s_in)
    synapse.a_out.connect(lif.a_in)
    lif.s_out.flatten().connect(sink.a_in)
    try:
        lif.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        out = sink.data.get().T != 0
        u, v = (np.asarray(var.get()).reshape(-1).astype(np.int64) for var in (lif.u, lif.v))
    finally:
        lif.stop()
    return out, u, v
