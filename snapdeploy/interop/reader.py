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
- Each later neuron layer, with the linear nodes before it, becomes a `SpikingConv` where
  the run is one convolution (a Conv2d, a pool, or a Conv2d then a pool: `conv_runs.py`)
  and the neurons of each channel share their gain, else a `SpikingLinear`: the run as one
  matrix (a run with a Conv2d or pool folded so is named in `ImportedModel.notes`). Spiking
  layers hold images channels-last, (H, W, C) flattened (Lava's (x, y, channel) with x = H):
  a spike input of multi-channel images is still fed in NIR's (C, H, W) order, and an
  `ImageSpikeSource` reorders it where it enters; the dense side hands the encoder NIR's
  order too, so an encoder followed by a conv layer is an `ImageSpikeEncoder`, whose spikes
  come out channels-last (unless the dense side is collapsed into one matrix: then the conv
  is folded). Our synapse delays by one step (Lava's Dense and Conv). A `Delay` of dt in the
  run is that delay, exactly; without one, the layer's spikes come one step later than in
  the source, and the model runs one extra step per such layer, so its outputs over the
  whole run (spike counts) equal the source's over T steps. That holds exactly when the
  delayed layers have no bias (Affine bias or v_leak): a bias acts from step 0, before the
  delayed input arrives.
- NIR does not say how a neuron resets (snnTorch writes v_reset = 0 for its subtract reset
  too): `reset` says it for every spiking layer (the encoder resets to zero).
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

from snapdeploy.interop.conv_runs import ConvRun, channels_last_order, conv_run
from snapdeploy.interop.errors import NirGraphError, UnsupportedNirNodeError
from snapdeploy.interop.graph_walk import chain, load_graph
from snapdeploy.interop.linear_maps import (
    LINEAR_NODES,
    affine_of,
    collapsed,
    exportable,
    offset_of,
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
    SpikingConv,
    SpikingLinear,
)
from snapdeploy.nn.boundary import SPIKE_SOURCES
from snapdeploy.nn.image_encoder import ImageSpikeEncoder
from snapdeploy.nn.image_source import ImageSpikeSource
from snapdeploy.nn.lif import check_reset

#: Nodes we cannot map, with the nearest one we can.
NEAREST = {
    "LI": "I (integrated spikes, read at the last step), or end with the LIF (spike counts)",
    "CubaLI": "I (integrated spikes, read at the last step), or end with the LIF (spike counts)",
    "Threshold": "LIF with tau = dt * 4096/4095 (our voltage decay cannot be total)",
    "Delay": "a Delay of exactly dt just before a neuron layer (our synapse delay)",
    "NIRGraph": "inline the subgraph's nodes",
}
SUPPORTED = (*LINEAR_NODES, *NEURON_NODES, nir.I, nir.Delay)
#: Said when subtract-reset layers leak: the reset is not snnTorch's there.
SUBTRACT_NOTE = (
    "subtract reset takes the threshold off at the spike, before the next step's voltage "
    "decay; snnTorch's Leaky takes it off after that decay (mem = beta mem + input - "
    "spike thr), so where the voltage decays (beta < 1) ours removes beta thr and spikes "
    "somewhat more: counts come near snnTorch's, not equal"
)
#: Nodes that make a run a convolution, kept as one where it can be (`conv_runs`).
CONV_NODES = (nir.Conv2d, nir.SumPool2d, nir.AvgPool2d)


@dataclass
class ImportedModel:
    """The imported net, and where its timing differs from the source's."""

    net: HybridNet
    source_steps: int
    #: Spiking layers that gained our one-step synapse delay (no NIR Delay before them).
    delayed_layers: list[str] = field(default_factory=list)
    #: Where the import differs from the graph's structure (a conv run folded into a dense
    #: matrix, an encoder that resets to zero), one sentence each.
    notes: list[str] = field(default_factory=list)
    #: The neurons' reset ("zero" or "subtract"): NIR does not say, the importer chose it.
    reset: str = "zero"
    #: For a last layer of images: our output index i is NIR's flat index output_order[i].
    output_order: np.ndarray | None = None

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


@dataclass(frozen=True)
class Layout:
    """How a layer's spikes are ordered: images channels-last (H, W, C) or in NIR's (C, H,
    W). Spiking layers and a spike source hold images channels-last (Lava's (x, y, channel)
    with x = H); the encoder's come from the dense side in NIR's order."""

    shape: tuple[int, ...]
    channels_last: bool

    @property
    def order(self) -> np.ndarray:
        """For each of our flat indices, NIR's flat index."""
        if self.channels_last:
            return channels_last_order(self.shape)
        return np.arange(math.prod(self.shape))


def spiking_layer(
    name: str,
    run: list[tuple[str, nir.NIRNode]],
    source: Layout,
    node: nir.NIRNode,
    dt: float,
    reset: str,
) -> tuple[SpikingLinear | SpikingConv, bool, Layout, str | None]:
    """A neuron node and the linear run before it; whether a Delay aligned it; the layout
    of its spikes; and, where the run held a Conv2d or pool that could not stay a conv, why."""
    delays = [(n, d) for n, d in run if isinstance(d, nir.Delay)]
    for delay_name, delay in delays:
        if len(delays) > 1 or not np.allclose(as_array(delay.delay), dt, rtol=1e-9, atol=0):
            raise UnsupportedNirNodeError(
                f"NIR node '{delay_name}': delays of {as_array(delay.delay).max():.4g} (dt is "
                f"{dt:g}); snapdeploy has only its synapse's one-step delay; fix: at most one "
                f"Delay of dt before each neuron layer"
            )
    linear = [(n, d) for n, d in run if not isinstance(d, nir.Delay)]
    modules = [torch_module(n, d) for n, d in linear]
    shape = out_shape(modules, source.shape)
    offset = offset_of(modules, source.shape).reshape(-1).numpy()
    neuron = discretize(name, node, math.prod(shape), dt)
    if neuron.du < 1 and np.any(offset):
        raise UnsupportedNirNodeError(
            f"NIR node '{name}': an Affine bias feeds a CubaLIF; our bias adds to the voltage, "
            f"not the current; fix: use Linear and put the offset in v_leak"
        )
    # Our LIF shares one threshold: unless they agree, every neuron is scaled to threshold 1.
    shared_vth = bool(np.all(neuron.vth == neuron.vth[0]))
    norm = np.ones_like(neuron.vth) if shared_vth else 1 / neuron.vth
    vth = float(neuron.vth[0]) if shared_vth else 1.0
    gain = neuron.gain * norm  # per neuron, NIR's order
    target = Layout(shape, True)
    bias = ((neuron.gain * offset + neuron.bias) * norm)[target.order]
    settings = {"du": neuron.du, "dv": neuron.dv, "vth": vth, "reset": reset}
    conv = conv_run([d for _, d in linear], source.shape) if linear else None
    if isinstance(conv, ConvRun):
        conv = checked_conv(conv, source, shape, gain)
    if isinstance(conv, ConvRun):
        c, h, w = source.shape
        layer = SpikingConv((h, w, c), shape[0], conv.weight.shape[2:], conv.stride,
                            conv.padding, conv.dilation, conv.groups, **settings)  # fmt: skip
        weight = conv.weight * gain.reshape(shape)[:, 0, 0, None, None, None]
    else:
        matrix, _, _ = affine_of(modules, source.shape)
        layer = SpikingLinear(matrix.shape[1], matrix.shape[0], **settings)
        weight = (matrix * gain[:, None])[target.order][:, source.order]
    with torch.no_grad():
        layer.synapse.weight.copy_(torch.from_numpy(weight))
        layer.lif.bias.copy_(torch.from_numpy(bias))
    folded = None
    if isinstance(conv, str) and any(isinstance(d, CONV_NODES) for _, d in linear):
        folded = (
            f"'{name}': the run before it ({', '.join(n for n, _ in linear)}) is folded into "
            f"one dense matrix, as {conv}"
        )
    return layer, bool(delays), target, folded


def encoder_and_layer(
    encoder: SpikeEncoder,
    name: str,
    run: list[tuple[str, nir.NIRNode]],
    layout: Layout,
    node: nir.NIRNode,
    dt: float,
    reset: str,
) -> tuple[SpikeEncoder, tuple[SpikingLinear | SpikingConv, bool, Layout, str | None]]:
    """The encoder of NIR's `layout` image and the layer after it (`spiking_layer`'s result):
    an `ImageSpikeEncoder`, its spikes channels-last, where that layer then stays a conv; else
    the encoder as it is, the layer taking NIR's order."""
    if len(layout.shape) == 3 and layout.shape[0] > 1:  # (1, H, W): the orders agree
        made = spiking_layer(name, run, Layout(layout.shape, True), node, dt, reset)
        if isinstance(made[0], SpikingConv):
            reordering = ImageSpikeEncoder(layout.shape, encoder.steps, dv=encoder.dv)
            reordering.log_threshold.data.copy_(encoder.log_threshold.data)
            return reordering, made
    return encoder, spiking_layer(name, run, layout, node, dt, reset)


def checked_conv(
    conv: ConvRun, source: Layout, shape: tuple[int, ...], gain: np.ndarray
) -> ConvRun | str:
    """The conv, or why its layer cannot be one: input spikes in NIR's channel-first order
    (an encoder after a dense side collapsed into one matrix), or neurons of one channel with
    different gains or thresholds."""
    if not source.channels_last and source.shape[0] > 1:
        return (
            f"its input is the encoder's {source.shape} spikes in NIR's (C, H, W) order: the "
            f"first neuron layer's thresholds, gains or biases differ, so the dense side before "
            f"it is collapsed into one matrix, whose output NIR cannot reshape back into the "
            f"image an encoder reordering channels-last would need (give that layer one "
            f"threshold and no bias, or import with --spike-input, to keep this layer a conv)"
        )
    per_channel = gain.reshape(shape)
    if np.any(per_channel != per_channel[:, :1, :1]):
        return "its neurons' r / v_threshold differ within a channel, and a conv shares them"
    return conv


def read_nir(
    source: str | Path | nir.NIRGraph,
    steps: int,
    dt: float = 1e-4,
    spike_input: bool = False,
    reset: str = "zero",
) -> ImportedModel:
    """Map a NIR graph (file or object) that its source ran for `steps` steps of `dt`; with
    `spike_input`, its input is spikes each step rather than data held for every step.
    `reset` ("zero" or "subtract") is the neurons' reset, which NIR does not record."""
    if steps < 1 or dt <= 0:
        raise ValueError(f"steps ({steps}) and dt ({dt}) must be positive")
    check_reset(reset)
    declared, nodes = chain(load_graph(source))
    refuse_unsupported(nodes)
    shape = input_shape(declared, nodes)
    stages: list[nn.Module] = [spike_source(shape, steps)] if spike_input else []
    delayed: list[str] = []
    notes: list[str] = []
    run: list[tuple[str, nir.NIRNode]] = []
    mode, in_shape = "spiking" if spike_input else "dense", shape
    layout = Layout(shape, spike_input)
    image_out = False  # whether the dense side hands the encoder an image (not a matrix's)
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
            scale = dt * per_neuron(name, "r", node.r, math.prod(in_shape))[layout.order]
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
            neuron_shape = out_shape(modules, in_shape)  # NIR's, before any flatten we add
            neuron = discretize(name, node, math.prod(neuron_shape), dt)
            if neuron.du != 1:
                raise UnsupportedNirNodeError(
                    f"NIR node '{name}' (CubaLIF) is the first neuron layer, which becomes our "
                    f"encoder, whose current is its input; fix: make the first layer a LIF or IF"
                )
            modules, threshold = folded_dense(modules, in_shape, neuron)
            if modules:
                stages.append(DenseBlock(*modules))
            stages.append(SpikeEncoder(neuron.vth.size, steps, threshold=threshold, dv=neuron.dv))
            in_shape, mode = neuron_shape, "spiking"
            layout = Layout(in_shape, False)
            image_out = bool(modules) and isinstance(modules[-1], nn.Flatten)
            if reset != "zero":
                notes.append(
                    f"'{name}': the first neuron layer becomes the encoder, which resets to "
                    f"zero (import with --spike-input to run every neuron layer with {reset} "
                    f"reset)"
                )
        else:
            if image_out and isinstance(stages[-1], SpikeEncoder):
                stages[-1], made = encoder_and_layer(stages[-1], name, run, layout, node, dt, reset)
            else:
                made = spiking_layer(name, run, layout, node, dt, reset)
            layer, aligned, layout, folded = made
            in_shape = layout.shape
            stages.append(layer)
            notes += [folded] if folded else []
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
        stages.append(DenseBlock(*decoded_modules(run, layout)))
    leaky = [s for s in stages if isinstance(s, (SpikingLinear, SpikingConv)) and s.lif.dv > 0]
    if reset == "subtract" and leaky:
        notes.append(SUBTRACT_NOTE)
    total = steps + len(delayed)
    net = HybridNet(
        *group(stages), input_shape=(total, math.prod(shape)) if spike_input else shape, steps=total
    )
    for stage in net.stages():
        if isinstance(stage, SPIKE_SOURCES):
            stage.steps = net.steps
    order = layout.order if layout.channels_last and len(layout.shape) == 3 else None
    return ImportedModel(net, steps, delayed, notes, reset, order)


def spike_source(shape: tuple[int, ...], steps: int) -> SpikeSource:
    """The source of spike input of `shape` (NIR's): images whose channels-last order is not
    NIR's are reordered where they enter, so the user feeds NIR's (C, H, W) order."""
    n = math.prod(shape)
    if len(shape) == 3 and not np.array_equal(channels_last_order(shape), np.arange(n)):
        return ImageSpikeSource(shape, steps)
    return SpikeSource(n, steps)


def decoded_modules(run: list[tuple[str, nir.NIRNode]], layout: Layout) -> list[nn.Module]:
    """The dense run after the decoder, on decoded counts in our order: where that is not
    NIR's (a channels-last image), one Linear whose columns take our order."""
    if not layout.channels_last or len(layout.shape) != 3:
        return dense_modules(run, layout.shape)
    modules = [torch_module(name, node) for name, node in run]
    weight, bias, _ = affine_of(modules, layout.shape)
    return collapsed(weight[:, layout.order], bias, (weight.shape[1],))


def group(stages: list[nn.Module]) -> list[nn.Module]:
    """Consecutive spiking layers as one SpikingBlock, the rest as they are."""
    grouped: list[nn.Module] = []
    for stage in stages:
        if isinstance(stage, (SpikingLinear, SpikingConv)):
            if not grouped or not isinstance(grouped[-1], SpikingBlock):
                grouped.append(SpikingBlock())
            grouped[-1].append(stage)
        else:
            grouped.append(stage)
    return grouped
