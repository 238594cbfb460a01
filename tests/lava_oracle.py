"""Real Lava 0.10 `fixed_pt` as an oracle: one synapse process (Conv, DelayDense, built as the
Lava backend builds it) feeding Lava's own LIF (a 3-D one for a conv, unlike the backend's
flat LIF), driven from a ring buffer of spikes, its output spikes and final u, v read back.
Used by the core tests to prove the reference's conv, pooling and delay semantics against Lava
itself (slow: a few seconds a run, so tests draw few cases)."""

from __future__ import annotations

import numpy as np
from lava.magma.core.run_conditions import RunSteps
from lava.magma.core.run_configs import Loihi2SimCfg
from lava.proc.io.sink import RingBuffer as SinkBuffer
from lava.proc.io.source import RingBuffer as SourceBuffer
from lava.proc.lif.process import LIF

from snapdeploy.backends.lava.synapses import synapse_process
from snapdeploy.core.conv import ConvLayerParams
from snapdeploy.core.neuron import LifLayerParams, ReferenceNetwork


def run_lava(
    params: ConvLayerParams | LifLayerParams, spikes: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Spikes bool [T, n_out] and the final u, v [n_out] real Lava gives for bool [T, n_in]."""
    if isinstance(params, ConvLayerParams):
        in_shape, out_shape = params.synapse.input_shape, params.synapse.output_shape
    else:
        in_shape, out_shape = (params.n_in,), (params.n_out,)
    synapse = synapse_process("oracle", params)
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


def assert_reference_runs_as_lava(
    params: ConvLayerParams | LifLayerParams, spikes: np.ndarray
) -> None:
    """The reference network of this one layer gives real Lava's spikes and final u, v."""
    want, u, v = run_lava(params, spikes)
    reference = ReferenceNetwork([params])
    np.testing.assert_array_equal(reference.run(spikes[:, None])[0][:, 0], want)
    np.testing.assert_array_equal(reference.states[0].u[0], u)
    np.testing.assert_array_equal(reference.states[0].v[0], v)
