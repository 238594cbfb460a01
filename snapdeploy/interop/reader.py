"""A NIR graph as a `HybridNet`: dense side and encoder (or a spike source), spiking layers,
optional decoder.

How a NIR chain becomes our stages (see `neurons.py` for the neuron parameters):
- By default the graph's input is a dense vector held for all T steps (static data, the usual
  snnTorch and Norse set-up). Linear nodes before the first neuron run on it once, on the
  dense side, and the first neuron layer becomes the `SpikeEncoder` (no synapse delay there,
  so it is exact). Its per-neuron gain, threshold and bias fold into the dense layer before it.
- With `spike_input` the graph's input is spikes, a new 0/1 vector every step (event data,
  e.g. from a DVS camera). It becomes a `SpikeSource` (input [batch, steps, n], n the input's
  size flattened), and the first neuron layer is a spiking layer like every later one (next
  item), delay included: without a NIR `Delay` before it, the model runs one extra step for
  it, so feed it the source's T steps of spikes followed by zeros (the padded steps cannot
  reach the output within the run).
- Each later neuron layer, with the linear nodes before it, becomes a `SpikingLinear`: the
  run is one matrix. Our synapse delays by one step (Lava's Dense). A `Delay` of dt in the
  run is that delay, exactly; without one, the layer's spikes come one step later than in
  the source, and the model runs one extra step per such layer, so its outputs over the
  whole run (spike counts) equal the source's over T steps. That holds exactly when the
  delayed layers have no bias (Affine bias or v_leak): a bias acts from step 0, before the
  delayed input arrives.
- An `I` (integrator) node right after the last neuron layer is a `SpikeDecoder` with scale
  dt r: the integrated spikes at the last step are counts times that scale. Linear nodes
  after it run on the decoded counts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import nir
import numpy as np
import torch
from torch import nn

from snapdeploy.interop.errors import NirGraphError, UnsupportedNirNodeError
from snapdeploy.interop.graph_walk import chain, load_graph
from snapdeploy.interop.linear_maps import (
    LINEAR_NODES,
    affine_of,
    collapsed,
    exportable,
    out_shape,
    torch_module,
)
from snapdeploy.interop.neurons import (
    NEURON_NODES,
    DiscreteNeuron,
    as_array,
    discretize,
    per_neuron,
)
from snapdeploy.nn import (
    DenseBlock,
    HybridNet,
    SpikeDecoder,
    SpikeEncoder,
    SpikeSource,
    SpikingBlock,
    SpikingLinear,
)
from snapdeploy.nn.boundary import SPIKE_SOURCES

#: Nodes we cannot map, with the nearest one we can.
NEAREST = {
    "LI": "I (integrated spikes, read at the last step), or end with the LIF (spike counts)",
    "CubaLI": "I (integrated spikes, read at the last step), or end with the LIF (spike counts)",
    "Threshold": "LIF with tau = dt * 4096/4095 (our voltage decay cannot be total)",
    "Delay": "a Delay of exactly dt just before a neuron layer (our synapse delay)",
    "NIRGraph": "inline the subgraph's nodes",
}
SUPPORTED = (*LINEAR_NODES, *NEURON_NODES, nir.I, nir.Delay)


@dataclass
class ImportedModel:
    """The imported net, and where its timing differs from the source's."""

    net: HybridNet
    source_steps: int
    #: Spiking layers that gained our one-step synapse delay (no NIR Delay before them).
    delayed_layers: list[str] = field(default_factory=list)

    @property
    def spike_input(self) -> bool:
        """Whether the net takes spikes [batch, net.steps, n]: the source's `source_steps`
        steps, then one step of zeros per delayed layer."""
        return isinstance(self.net.stages()[0], SpikeSource)


def refuse_unsupported(steps: list[tuple[str, nir.NIRNode]]) -> None:
    """One error listing every node we cannot map, with the nearest supported equivalent."""
    bad = [(name, node) for name, node in steps if not isinstance(node, SUPPORTED)]
    if bad:
        lines = "; ".join(
            f"'{name}' ({type(node).__name__}): nearest supported is "
            f"{NEAREST.get(type(node).__name__, 'none')}"
            for name, node in bad
        )
        raise UnsupportedNirNodeError(
            f"the NIR graph has nodes snapdeploy cannot map: {lines}. Supported: "
            f"{', '.join(t.__name__ for t in SUPPORTED)}"
        )


def input_shape(declared: np.ndarray, steps: list[tuple[str, nir.NIRNode]]) -> tuple[int, ...]:
    """The input's shape without a leading batch dimension of 1 that some exporters keep."""
    shape = tuple(int(d) for d in declared.reshape(-1))
    first = steps[0][1].input_type.get("input") if steps else None
    if first is not None and not isinstance(steps[0][1], nir.Flatten):
        wanted = len(np.asarray(first).reshape(-1))
        while len(shape) > wanted and shape[0] == 1:
            shape = shape[1:]
    return shape


def folded_dense(
    modules: list[nn.Module], in_shape: tuple[int, ...], neuron: DiscreteNeuron
) -> tuple[list[nn.Module], float]:
    """Dense modules whose output, held for T steps, drives the encoder; and its threshold.

    The encoder has one threshold and no gain or bias, so unless gain and threshold are
    shared and the bias is 0, they fold into a final Linear (the run collapses into one).
    """
    ratio = neuron.vth / neuron.gain
    if np.all(ratio == ratio[0]) and not np.any(neuron.bias):
        flat = [nn.Flatten()] if len(out_shape(modules, in_shape)) > 1 else []
        return modules + flat, float(ratio[0])
    weight, bias, _ = affine_of(modules, in_shape)
    weight = weight * (neuron.gain / neuron.vth)[:, None]
    bias = (bias * neuron.gain + neuron.bias) / neuron.vth
    return collapsed(weight, bias, in_shape), 1.0


def dense_modules(run: list[tuple[str, nir.NIRNode]], in_shape: tuple[int, ...]) -> list[nn.Module]:
    """The run one module per node where export keeps them, else one collapsed Linear."""
    modules = [torch_module(name, node) for name, node in run]
    if all(exportable(m) for m in modules):
        return modules
    weight, bias, _ = affine_of(modules, in_shape)
    return collapsed(weight, bias, in_shape)


def spiking_layer(
    name: str,
    run: list[tuple[str, nir.NIRNode]],
    in_shape: tuple[int, ...],
    node: nir.NIRNode,
    dt: float,
) -> tuple[SpikingLinear, bool, tuple[int, ...]]:
    """A neuron node and the linear run before it; whether a Delay aligned it; its shape."""
    delays = [(n, d) for n, d in run if isinstance(d, nir.Delay)]
    for delay_name, delay in delays:
        if len(delays) > 1 or not np.allclose(as_array(delay.delay), dt, rtol=1e-9, atol=0):
            raise UnsupportedNirNodeError(
                f"NIR node '{delay_name}': delays of {as_array(delay.delay).max():.4g} (dt is "
                f"{dt:g}); snapdeploy has only its synapse's one-step delay; fix: at most one "
                f"Delay of dt before each neuron layer"
            )
    modules = [torch_module(n, d) for n, d in run if not isinstance(d, nir.Delay)]
    weight, offset, shape = affine_of(modules, in_shape)
    neuron = discretize(name, node, weight.shape[0], dt)
    if neuron.du < 1 and np.any(offset):
        raise UnsupportedNirNodeError(
            f"NIR node '{name}': an Affine bias feeds a CubaLIF; our bias adds to the voltage, "
            f"not the current; fix: use Linear and put the offset in v_leak"
        )
    # Our LIF shares one threshold: unless they agree, every neuron is scaled to threshold 1.
    shared_vth = bool(np.all(neuron.vth == neuron.vth[0]))
    norm = np.ones_like(neuron.vth) if shared_vth else 1 / neuron.vth
    vth = float(neuron.vth[0]) if shared_vth else 1.0
    layer = SpikingLinear(weight.shape[1], weight.shape[0], du=neuron.du, dv=neuron.dv, vth=vth)
    with torch.no_grad():
        layer.synapse.weight.copy_(torch.from_numpy(weight * (neuron.gain * norm)[:, None]))
        layer.lif.bias.copy_(torch.from_numpy((neuron.gain * offset + neuron.bias) * norm))
    return layer, bool(delays), shape


def read_nir(
    source: str | Path | nir.NIRGraph, steps: int, dt: float = 1e-4, spike_input: bool = False
) -> ImportedModel:
    """Map a NIR graph (file or object) that its source ran for `steps` steps of `dt`; with
    `spike_input`, its input is spikes each step rather than data held for every step."""
    if steps < 1 or dt <= 0:
        raise ValueError(f"steps ({steps}) and dt ({dt}) must be positive")
    declared, nodes = chain(load_graph(source))
    refuse_unsupported(nodes)
    shape = input_shape(declared, nodes)
    stages: list[nn.Module] = [SpikeSource(math.prod(shape), steps)] if spike_input else []
    delayed: list[str] = []
    run: list[tuple[str, nir.NIRNode]] = []
    mode, in_shape = "spiking" if spike_input else "dense", shape
    for name, node in nodes:
        if isinstance(node, (*LINEAR_NODES, nir.Delay)):
            run.append((name, node))
            continue
        if mode == "decoded":
            raise NirGraphError(
                f"NIR node '{name}' ({type(node).__name__}) follows the integrator readout; "
                f"snapdeploy decodes once, at the end; fix: end the graph after the readout"
            )
        if isinstance(node, nir.I):
            if mode != "spiking" or run:
                raise NirGraphError(
                    f"NIR node '{name}' (I) must directly follow a neuron layer to read its "
                    f"spikes out; fix: put linear nodes after the integrator"
                )
            scale = dt * per_neuron(name, "r", node.r, math.prod(in_shape))
            decoder = SpikeDecoder(scale.size, steps)
            decoder.scale.data.copy_(torch.from_numpy(scale))
            stages.append(decoder)
            mode = "decoded"
            continue
        if mode == "dense":
            if any(isinstance(d, nir.Delay) for _, d in run):
                raise UnsupportedNirNodeError(
                    f"a Delay before the first neuron layer '{name}' acts on the held input; "
                    f"fix: remove it, or, if the graph's input is spikes, import with "
                    f"--spike-input (spike_input=True)"
                )
            modules = dense_modules(run, in_shape)
            neuron = discretize(name, node, math.prod(out_shape(modules, in_shape)), dt)
            if neuron.du != 1:
                raise UnsupportedNirNodeError(
                    f"NIR node '{name}' (CubaLIF) is the first neuron layer, which becomes our "
                    f"encoder, whose current is its input; fix: make the first layer a LIF or IF"
                )
            modules, threshold = folded_dense(modules, in_shape, neuron)
            if modules:
                stages.append(DenseBlock(*modules))
            stages.append(SpikeEncoder(neuron.vth.size, steps, threshold=threshold, dv=neuron.dv))
            in_shape, mode = out_shape(modules, in_shape) if modules else in_shape, "spiking"
        else:
            layer, aligned, in_shape = spiking_layer(name, run, in_shape, node, dt)
            stages.append(layer)
            if not aligned:
                delayed.append(name)
        run = []
    if run:
        if mode != "decoded":
            raise NirGraphError(
                f"linear nodes {', '.join(n for n, _ in run)} end the graph after spikes, so "
                f"their output changes every step; fix: end with a neuron layer (spike counts) "
                f"or put an I node before them"
            )
        stages.append(DenseBlock(*dense_modules(run, in_shape)))
    total = steps + len(delayed)
    net = HybridNet(
        *group(stages), input_shape=(total, math.prod(shape)) if spike_input else shape, steps=total
    )
    for stage in net.stages():
        if isinstance(stage, SPIKE_SOURCES):
            stage.steps = net.steps
    return ImportedModel(net, steps, delayed)


def group(stages: list[nn.Module]) -> list[nn.Module]:
    """Consecutive spiking layers as one SpikingBlock, the rest as they are."""
    grouped: list[nn.Module] = []
    for stage in stages:
        if isinstance(stage, SpikingLinear):
            if not grouped or not isinstance(grouped[-1], SpikingBlock):
                grouped.append(SpikingBlock())
            grouped[-1].append(stage)
        else:
            grouped.append(stage)
    return grouped
