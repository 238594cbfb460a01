"""A spiking partition as Lava processes: what the Lava backend runs, and what a Lava user builds
from a partition's arrays (`build_network(names, SpikingPartition.load(...).layers)`).

Each layer is a Lava synapse process (`synapses.py`: Dense, DelayDense or Conv) feeding a
`LIF` with the layer's du, dv, vth and bias (our `neurons.subtract_lif.SubtractLIF` where the
layer resets by subtraction); layer i's LIF spikes drive layer i+1's synapse. Every LIF is
flat, [n_out]: a conv's (x, y, channel) activation is flattened into it, and flat spikes are
reshaped into the next conv's input, in Lava's C order, which is the reference's. The weights
are declared mixed-sign: left to itself, Dense infers the sign mode from the values, and a
matrix with no positive weight is then clipped to [-255, 0], turning -256 into -255.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from snapdeploy.backends.lava.neurons.subtract_lif import SubtractLIF
from snapdeploy.backends.lava.synapses import synapse_process
from snapdeploy.core.conv import ConvLayerParams
from snapdeploy.core.extras import needs
from snapdeploy.core.neuron import LifLayerParams

with needs("lava", __name__):
    from lava.magma.core.process.ports.ports import AbstractPort
    from lava.magma.core.process.process import AbstractProcess
    from lava.proc.lif.process import LIF


@dataclass
class LavaLayer:
    """One layer's two processes: its synapse (Dense, DelayDense or Conv) and its LIF."""

    synapse: AbstractProcess
    lif: LIF


def build_layer(name: str, params: LifLayerParams | ConvLayerParams) -> LavaLayer:
    """Synapse + LIF with the layer's integers; Lava's own clip and truncate leave them as they are."""
    synapse = synapse_process(name, params)
    lif = (SubtractLIF if params.reset == "subtract" else LIF)(
        shape=(params.n_out,),
        du=int(params.du),
        dv=int(params.dv),
        vth=int(params.vth),
        bias_mant=params.bias_mant.astype(np.int32),
        bias_exp=int(params.bias_exp),
        name=f"{name}.lif",
    )
    flat(synapse.a_out).connect(lif.a_in)
    return LavaLayer(synapse, lif)


def flat(port: AbstractPort) -> AbstractPort:
    """A port as one axis (Lava's flatten is C order, the reference's neuron order)."""
    return port.flatten() if len(port.shape) > 1 else port


def shaped_for(port: AbstractPort, target: AbstractPort) -> AbstractPort:
    """A flat port reshaped to the shape of the port it drives (a conv's image)."""
    return port.reshape(target.shape) if port.shape != target.shape else port


def build_network(
    names: list[str], layers: list[LifLayerParams | ConvLayerParams]
) -> list[LavaLayer]:
    """The chain of layers, each LIF's spikes connected to the next layer's synapse."""
    chain = [build_layer(name, params) for name, params in zip(names, layers)]
    for prev, nxt in itertools.pairwise(chain):
        shaped_for(prev.lif.s_out, nxt.synapse.s_in).connect(nxt.synapse.s_in)
    return chain
