"""Models and partitions the tests build, shared so each test file does not write its own: the
small dense -> spiking -> dense hybrid (`hybrid_net`, also with spike input), a spiking
partition of given layers, the 12 networks recorded from real Lava, the bit-exact state check
the backends must pass, the integer reference of an exported graph's spiking layers, and random
float nets compared parameter for parameter (NIR round trips)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from snapdeploy.core.graph import ModelGraph, SpikingOp
from snapdeploy.core.neuron import LifLayerParams, ReferenceNetwork
from snapdeploy.nn import (
    DenseBlock,
    HybridNet,
    SpikeDecoder,
    SpikeEncoder,
    SpikeSource,
    SpikingBlock,
    SpikingConv,
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
    spike_input: bool = False,
) -> HybridNet:
    """[Linear(n_in, widths[0]) + ReLU] -> encoder(widths[0]) -> SpikingLinear over `widths`
    -> [decoder -> [Linear(widths[-1], n_out)]], its weights drawn from torch seed `seed`.

    Without `n_in` the model starts at the encoder, without `n_out` it ends at the decoder,
    without `decode` at the spikes. The encoder has `threshold` and `dv`, every spiking layer
    `vth`; `gain` scales the spiking synapses (> 1: the layers fire more). With `spike_input`
    a `SpikeSource(widths[0], steps)` replaces the encoder (and `n_in` must be None): the model
    takes spikes [batch, steps, widths[0]]."""
    if spike_input and n_in is not None:
        raise ValueError("a spike-input model has no dense layer before its spike source")
    torch.manual_seed(seed)
    blocks: list[nn.Module] = []
    if n_in is not None:
        blocks.append(DenseBlock(nn.Linear(n_in, widths[0]), nn.ReLU()))
    if spike_input:
        blocks.append(SpikeSource(widths[0], steps))
    else:
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
    shape = (steps, widths[0]) if spike_input else (n_in or widths[0],)
    return HybridNet(*blocks, input_shape=shape, steps=steps)


def reference_spikes(graph: ModelGraph, spikes: np.ndarray) -> np.ndarray:
    """The integer reference's last-layer spikes [T, batch, n] for the graph's spiking layers
    (one chain) fed bool `spikes` [T, batch, n_in]."""
    return ReferenceNetwork([op.params for op in graph.spiking_ops()]).run(spikes)[0]


class Recording:
    """Wraps an executor and keeps every input it was given and every output it returned."""

    def __init__(self, inner):
        self.inner, self.inputs, self.outputs = inner, [], []

    def run(self, inputs):
        self.inputs.append(np.array(inputs, copy=True))
        self.outputs.append(self.inner.run(inputs))
        return self.outputs[-1]

    def reset(self):
        self.inner.reset()

    def close(self):
        self.inner.close()


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


def randomized(net: HybridNet, seed: int) -> HybridNet:
    """Every parameter random (thresholds and decoder scales kept positive)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in net.named_parameters():
            values = torch.rand(p.shape, generator=generator)
            p.copy_(values + 0.3 if "vth" in name or "scale" in name else values * 2 - 1)
    return net


def assert_same_nets(a: HybridNet, b: HybridNet) -> None:
    """The same stages with bit-equal parameters, sizes and steps; du and dv within 1 ulp."""
    assert [type(s) for s in a.stages()] == [type(s) for s in b.stages()]
    assert (a.input_shape, a.steps) == (b.input_shape, b.steps)
    for sa, sb in zip(a.stages(), b.stages()):
        pa, pb = dict(sa.named_parameters()), dict(sb.named_parameters())
        assert pa.keys() == pb.keys()
        assert all(torch.equal(pa[k], pb[k]) for k in pa), type(sa).__name__
        assert getattr(sa, "n", None) == getattr(sb, "n", None)
        assert getattr(sa, "steps", None) == getattr(sb, "steps", None)
        assert getattr(sa, "input_shape", None) == getattr(sb, "input_shape", None)
        lifs = (sa.lif, sb.lif) if hasattr(sa, "lif") else (sa, sb)
        for attr in ("du", "dv"):
            x, y = (getattr(m, attr, 0.0) for m in lifs)
            assert math.isclose(x, y, rel_tol=2**-52, abs_tol=0), attr


def neuron_spikes(model: HybridNet, x: torch.Tensor) -> list[torch.Tensor]:
    """The spikes [steps, batch, n] of each neuron stage of `model` (its encoders and spiking
    layers, in order) on input `x`."""
    spikes, h = [], x
    with torch.no_grad():
        for stage in model.stages():
            h = stage(h)
            if isinstance(stage, (SpikeEncoder, SpikingLinear, SpikingConv)):
                spikes.append(h)
    return spikes
