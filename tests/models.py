"""Models and partitions the tests build, shared so each test file does not write its own: the
small dense -> spiking -> dense hybrid (`hybrid_net`), a spiking partition of given layers, the
12 networks recorded from real Lava, and the bit-exact state check the backends must pass."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from snapdeploy.core.graph import SpikingOp
from snapdeploy.core.neuron import LifLayerParams, ReferenceNetwork
from snapdeploy.nn import (
    DenseBlock,
    HybridNet,
    SpikeDecoder,
    SpikeEncoder,
    SpikingBlock,
    SpikingLinear,
)
from snapdeploy.partition import SpikingPartition

#: Networks run on real Lava 0.10.0, with their input, output spikes and final u, v.
LAVA_FIXTURES = sorted((Path(__file__).parent / "fixtures" / "lava").glob("*.npz"))


def hybrid_net(
    widths: Sequence[int],
    steps: int,
    *,
    n_in: int | None = None,
    n_out: int | None = None,
    decode: bool = True,
    seed: int = 0,
    threshold: float = 1.0,
    dv: float = 0.0,
    vth: float = 1.0,
    gain: float = 1.0,
) -> HybridNet:
    """[Linear(n_in, widths[0]) + ReLU] -> encoder(widths[0]) -> SpikingLinear over `widths`
    -> [decoder -> [Linear(widths[-1], n_out)]], its weights drawn from torch seed `seed`.

    Without `n_in` the model starts at the encoder, without `n_out` it ends at the decoder,
    without `decode` at the spikes. The encoder has `threshold` and `dv`, every spiking layer
    `vth`; `gain` scales the spiking synapses (> 1: the layers fire more)."""
    torch.manual_seed(seed)
    blocks: list[nn.Module] = []
    if n_in is not None:
        blocks.append(DenseBlock(nn.Linear(n_in, widths[0]), nn.ReLU()))
    blocks.append(SpikeEncoder(widths[0], steps, threshold=threshold, dv=dv))
    layers = [SpikingLinear(a, b, vth=vth) for a, b in itertools.pairwise(widths)]
    blocks.append(SpikingBlock(*layers))
    if decode:
        blocks.append(SpikeDecoder(widths[-1], steps))
        if n_out is not None:
            blocks.append(DenseBlock(nn.Linear(widths[-1], n_out)))
    if gain != 1.0:
        with torch.no_grad():
            for layer in layers:
                layer.synapse.weight.mul_(gain)
    return HybridNet(*blocks, input_shape=(n_in or widths[0],), steps=steps)


def spiking_partition(
    layers: Sequence[LifLayerParams], steps: int = 1, name: str = "p1_spiking"
) -> SpikingPartition:
    """Partition 1 holding `layers` as ops layer0, layer1, ..."""
    ops = tuple(SpikingOp(f"layer{i}", params) for i, params in enumerate(layers))
    return SpikingPartition(name=name, index=1, ops=ops, steps=steps)


def fixture_layers(data: np.lib.npyio.NpzFile) -> list[LifLayerParams]:
    """The layers of one of `LAVA_FIXTURES`."""
    return [
        LifLayerParams(
            weights=data[f"l{i}_weights"],
            weight_exp=int(data[f"l{i}_weight_exp"]),
            du=int(data[f"l{i}_du"]),
            dv=int(data[f"l{i}_dv"]),
            vth=int(data[f"l{i}_vth"]),
            bias_mant=data[f"l{i}_bias_mant"],
            bias_exp=int(data[f"l{i}_bias_exp"]),
        )
        for i in range(int(data["n_layers"]))
    ]


def assert_states_equal(executor, reference: ReferenceNetwork) -> None:
    """An executor's u, v and pending activation of every layer equal the reference's."""
    for i, (got, want) in enumerate(zip(executor.states(), reference.states, strict=True)):
        np.testing.assert_array_equal(got.u, want.u, err_msg=f"layer {i} u")
        np.testing.assert_array_equal(got.v, want.v, err_msg=f"layer {i} v")
        np.testing.assert_array_equal(got.a_pending, want.a_pending, err_msg=f"layer {i} a")


def assert_runs_as_real_lava_did(fixture: Path, open_executor) -> None:
    """`open_executor(layers)` (a context manager) on one of `LAVA_FIXTURES` gives the output
    spikes and every layer's final u and v that real Lava gave."""
    with np.load(fixture) as data:
        layers = fixture_layers(data)
        with open_executor(layers) as executor:
            spikes = executor.run(data["s_in"][:, None, :])
            states = executor.states()
        last = len(layers) - 1
        np.testing.assert_array_equal(spikes[:, 0], data[f"l{last}_spikes"])
        assert len(states) == len(layers)
        for i, state in enumerate(states):
            np.testing.assert_array_equal(state.u[0], data[f"l{i}_u"], err_msg=f"layer {i} u")
            np.testing.assert_array_equal(state.v[0], data[f"l{i}_v"], err_msg=f"layer {i} v")
