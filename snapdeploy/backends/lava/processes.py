"""A spiking partition as Lava processes, and the network file a Lava user loads.

Each layer is Lava's `Dense` (8-bit weights, the layer's `weight_exp`) feeding a `LIF` with
the layer's du, dv, vth and bias; layer i's LIF spikes drive layer i+1's Dense. The weights
are declared mixed-sign: left to itself, Dense infers the sign mode from the values, and a
matrix with no positive weight is then clipped to [-255, 0], turning -256 into -255.

The network file is Lava's own serialization (`lava.utils.serialization`) of exactly these
processes, so a Lava user gets the same Dense/LIF graph, with the same integers, that this
backend runs, ready to connect to their own input and output and run on any run config.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from snapdeploy.core.extras import needs
from snapdeploy.core.neuron import LifLayerParams

with needs("lava", __name__):
    from lava.magma.core.process.process import AbstractProcess, ProcessServer
    from lava.magma.core.process.variable import VarServer
    from lava.proc.dense.process import Dense
    from lava.proc.lif.process import LIF
    from lava.utils import serialization
    from lava.utils.weightutils import SignMode

NETWORK_FILE = "network.pickle"
WEIGHT_BITS = 8


@dataclass
class LavaLayer:
    """One layer's two processes."""

    dense: Dense
    lif: LIF


def build_layer(name: str, params: LifLayerParams) -> LavaLayer:
    """Dense + LIF with the layer's integers; Lava's own clip and truncate leave them as they are."""
    dense = Dense(
        weights=params.weights.astype(np.int32),
        weight_exp=int(params.weight_exp),
        num_weight_bits=WEIGHT_BITS,
        sign_mode=SignMode.MIXED,
        name=f"{name}.dense",
    )
    lif = LIF(
        shape=(params.n_out,),
        du=int(params.du),
        dv=int(params.dv),
        vth=int(params.vth),
        bias_mant=params.bias_mant.astype(np.int32),
        bias_exp=int(params.bias_exp),
        name=f"{name}.lif",
    )
    dense.a_out.connect(lif.a_in)
    return LavaLayer(dense, lif)


def build_network(names: list[str], layers: list[LifLayerParams]) -> list[LavaLayer]:
    """The chain of layers, each LIF's spikes connected to the next layer's Dense."""
    chain = [build_layer(name, params) for name, params in zip(names, layers)]
    for prev, nxt in itertools.pairwise(chain):
        prev.lif.s_out.connect(nxt.dense.s_in)
    return chain


def save_network(chain: list[LavaLayer], path: Path) -> None:
    """Write the processes with Lava's serialization (a pickle: load only files you trust)."""
    serialization.save([proc for layer in chain for proc in (layer.dense, layer.lif)], str(path))


def load_network(path: Path) -> list[LavaLayer]:
    """Read a network file back as fresh, runnable processes.

    Lava 0.10.0's `serialization.load` keeps the process and Var ids stored in the pickle,
    which collide with those of processes made since (the compiler then mixes them up and
    the run hangs), so every loaded process and Var is registered again for a new id.
    """
    procs, _ = serialization.load(str(path))
    for proc in procs:
        reregister(proc)
    return [LavaLayer(dense, lif) for dense, lif in zip(procs[::2], procs[1::2])]


def reregister(proc: AbstractProcess) -> None:
    """Give an unpickled process and its Vars ids unique in this interpreter."""
    proc.id = ProcessServer().register(proc)
    for var in proc.vars.members:
        var.id = VarServer().register(var)
