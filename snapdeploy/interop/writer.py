"""A `HybridNet` as a NIR graph, which `reader.read_nir` reads back to the same net.

Dense Linear, Conv2d, Flatten and AvgPool2d become their NIR nodes; the encoder becomes a
LIF (IF when dv = 0); each `SpikingLinear` becomes Linear -> Delay(dt) -> LIF (CubaLIF when
du < 1), the Delay being our synapse's one-step delay, so the graph says what we compute;
each `SpikingConv` becomes Conv2d -> Delay(dt) -> LIF over NIR's (C, H, W) images (our
channels-last (H, W, C) spikes, x = H: the reader's layout, see `conv_runs.py`), with a
Flatten before a `SpikingLinear` that follows it (its columns put in NIR's order). A conv
must take images: a spike source at the input (the graph's Input is then the image) or
another conv, or an `ImageSpikeEncoder` (a LIF over NIR's (C, H, W) image, the dense side's
trailing Flatten dropped, so its spikes are the conv's input image); NIR has no reshape to make
an image of a vector, so a conv after a dense layer or after a plain encoder is refused, as is
a dense layer after a conv layer's decoder;
a decoder becomes an I node with r = scale / dt (read at the last step). A net whose input is
spikes (a leading `SpikeSource`) has no node for it: the graph's Input, of shape [n], carries
the spikes straight into the first layer (read back with `read_nir(..., spike_input=True)`);
where that layer is a conv, the Input is its image in NIR's (C, H, W) order, which is the
order the net takes when its source is an `ImageSpikeSource` (an imported NIR graph's) and
the order a NIR reader feeds (read back, the net takes it so, reordering where it enters).
NIR has no ReLU, max-pooling or other non-linear dense layer, so a net with one is refused,
naming them; `spiking_section` cuts out the part from the first encoder to the last spiking
stage, which NIR can always carry when no such layer sits between two boundaries.
"""

from __future__ import annotations

import dataclasses
import io
import itertools
from pathlib import Path

import nir
import numpy as np
from torch import nn

from snapdeploy.core.errors import UnsupportedLayerError
from snapdeploy.core.files import atomic_write
from snapdeploy.interop.conv_runs import channels_last_order
from snapdeploy.interop.errors import UnsupportedNirNodeError
from snapdeploy.interop.linear_maps import out_shape
from snapdeploy.interop.neurons import continuous
from snapdeploy.nn import (
    HybridNet,
    SpikeDecoder,
    SpikeEncoder,
    SpikeSource,
    SpikingConv,
    SpikingLinear,
)
from snapdeploy.nn.boundary import SPIKE_SOURCES
from snapdeploy.nn.image_encoder import ImageSpikeEncoder
from snapdeploy.nn.image_source import ImageSpikeSource
from snapdeploy.quant.export import refuse_settings

Nodes = list[tuple[str, nir.NIRNode]]


def _np(tensor) -> np.ndarray:
    return tensor.detach().cpu().numpy().copy()


def dense_nodes(name: str, module: nn.Module, shape: tuple[int, ...]) -> Nodes:
    """A dense module as NIR nodes (none for Identity and Dropout, which vanish)."""
    if isinstance(module, (nn.Identity, nn.Dropout)):
        return []
    if isinstance(module, (nn.Conv2d, nn.AvgPool2d)):
        refuse_settings(name, module)
    if isinstance(module, nn.Linear):
        weight = _np(module.weight)
        if module.bias is None:
            return [(name, nir.Linear(weight=weight))]
        return [(name, nir.Affine(weight=weight, bias=_np(module.bias)))]
    if isinstance(module, nn.Conv2d):
        bias = (
            _np(module.bias)
            if module.bias is not None
            else np.zeros(module.out_channels, np.float32)
        )
        return [
            (
                name,
                nir.Conv2d(
                    input_shape=np.array(shape[-2:]),
                    weight=_np(module.weight),
                    stride=np.array(module.stride),
                    padding=np.array(module.padding),
                    dilation=np.array(module.dilation),
                    groups=module.groups,
                    bias=bias,
                ),
            )
        ]
    if isinstance(module, nn.Flatten) and module.start_dim >= 1:
        end = module.end_dim - 1 if module.end_dim > 0 else module.end_dim
        return [
            (
                name,
                nir.Flatten(
                    input_type={"input": np.array(shape)},
                    start_dim=module.start_dim - 1,
                    end_dim=end,
                ),
            )
        ]
    if isinstance(module, nn.AvgPool2d):
        pair = lambda v: np.array(v if isinstance(v, (tuple, list)) else (v, v))  # list: a .snap's
        return [
            (
                name,
                nir.AvgPool2d(
                    kernel_size=pair(module.kernel_size),
                    stride=pair(module.stride),
                    padding=pair(module.padding),
                ),
            )
        ]
    raise UnsupportedNirNodeError(
        f"layer '{name}' ({type(module).__name__}) has no NIR node (NIR carries linear maps "
        f"and neurons only)"
    )


def nir_image(shape: tuple[int, int, int]) -> tuple[int, int, int]:
    """Our channels-last (H, W, C) image shape as NIR's (C, H, W)."""
    return shape[2], shape[0], shape[1]


def in_nir_order(values: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Per-neuron values (last axis) from our order into NIR's for a layer of `shape` (NIR's)."""
    out = np.empty_like(values)
    out[..., channels_last_order(shape)] = values
    return out


def neuron_node(lif: nn.Module, shape: tuple[int, ...], dt: float) -> nir.NIRNode:
    """A layer's LIF as NIR's node over `shape` (NIR's), its values in NIR's order."""
    bias = _np(lif.bias).astype(np.float64) if lif.bias is not None else np.zeros(lif.n)
    vth = np.full(lif.n, float(lif.vth.item()))
    return shaped(continuous(lif.du, lif.dv, vth, in_nir_order(bias, shape), dt), shape)


def shaped(node: nir.NIRNode, shape: tuple[int, ...]) -> nir.NIRNode:
    """A neuron node whose per-neuron values (NIR's order) are reshaped to `shape`."""
    fields = [
        f.name
        for f in dataclasses.fields(node)
        if f.name not in ("input_type", "output_type", "metadata")
    ]
    return dataclasses.replace(node, **{f: getattr(node, f).reshape(shape) for f in fields})


def conv_nodes(name: str, stage: SpikingConv, shape: tuple[int, ...], dt: float) -> Nodes:
    """Conv2d -> Delay(dt) -> LIF, or an error where the input is not an image."""
    if shape != nir_image(stage.input_shape):
        raise UnsupportedNirNodeError(
            f"layer '{name}' (SpikingConv) takes {nir_image(stage.input_shape)} images but "
            f"follows a layer of shape {shape}, and NIR has no reshape to make one"
        )
    conv, out = stage.synapse, nir_image(stage.output_shape)
    return [
        (
            f"{name}.synapse",
            nir.Conv2d(
                input_shape=np.array(shape[1:]),
                weight=_np(conv.weight).astype(np.float64),
                stride=np.array(conv.stride),
                padding=np.array(conv.padding),
                dilation=np.array(conv.dilation),
                groups=conv.groups,
                bias=np.zeros(conv.out_channels),
            ),
        ),
        (f"{name}.delay", nir.Delay(delay=np.full(out, dt))),
        (f"{name}.lif", neuron_node(stage.lif, out, dt)),
    ]


def stage_nodes(name: str, stage: nn.Module, shape: tuple[int, ...], dt: float) -> Nodes:
    """One stage of the net as the NIR nodes that compute it (`shape`: its input, NIR's)."""
    if isinstance(stage, SpikeEncoder):
        vth = np.full(stage.n, np.exp(np.float64(stage.log_threshold.item())))
        node = continuous(1.0, stage.dv, vth, np.zeros(stage.n), dt)
        return [(name, shaped(node, shape) if isinstance(stage, ImageSpikeEncoder) else node)]
    if isinstance(stage, SpikeSource):
        return []  # the graph's Input carries the spikes
    if isinstance(stage, SpikingConv):
        return conv_nodes(name, stage, shape, dt)
    if isinstance(stage, SpikingLinear):
        n_out = stage.lif.n
        flatten = []
        if len(shape) == 3:  # after a conv: NIR's image flattened, columns in NIR's order
            flatten = [(f"{name}.flatten", nir.Flatten({"input": np.array(shape)}, start_dim=0))]
        return [
            *flatten,
            (f"{name}.synapse", nir.Linear(weight=in_nir_order(_np(stage.synapse.weight), shape))),
            (f"{name}.delay", nir.Delay(delay=np.full(n_out, dt))),
            (f"{name}.lif", neuron_node(stage.lif, (n_out,), dt)),
        ]
    if isinstance(stage, SpikeDecoder):
        return [(name, nir.I(r=in_nir_order(_np(stage.scale).astype(np.float64) / dt, shape)))]
    return dense_nodes(name, stage, shape)


def image_before(
    name: str, stage: ImageSpikeEncoder, nodes: Nodes, shape: tuple[int, ...]
) -> tuple[int, int, int]:
    """The (C, H, W) image an `ImageSpikeEncoder` encodes: the dense side's trailing Flatten
    of that image is dropped from `nodes` (the encoder's LIF takes the image itself)."""
    last = nodes[-1][1]
    if isinstance(last, nir.Flatten) and tuple(last.input_type["input"]) == stage.channels_first:
        nodes.pop()
        return stage.channels_first
    raise UnsupportedNirNodeError(
        f"layer '{name}' (ImageSpikeEncoder) encodes {stage.channels_first} images but "
        f"follows a layer of shape {shape}, not a Flatten of that image, and NIR has no "
        f"reshape to make one"
    )


def spiking_section(net: HybridNet) -> HybridNet:
    """The part of `net` from its first encoder (or spike source) to its last spiking stage or
    decoder: what a neuromorphic toolchain runs, without the dense layers around it (a ReLU
    or max-pooling there has no NIR node). Its input is the encoder's input activation, held
    for every step, as NIR graphs with static input take it. Parameters are shared with `net`."""
    stages = net.stages()
    starts = [i for i, s in enumerate(stages) if isinstance(s, SPIKE_SOURCES)]
    ends = [
        i for i, s in enumerate(stages) if isinstance(s, (SpikingLinear, SpikingConv, SpikeDecoder))
    ]
    if not starts:
        raise UnsupportedNirNodeError(
            "the model has no spike encoder or spike source, so it has no spiking part to "
            "export; fix: export the whole model"
        )
    first = stages[starts[0]]
    last = max([starts[0], *ends])
    shape = (first.steps, first.n) if isinstance(first, SpikeSource) else (first.n,)
    return HybridNet(*stages[starts[0] : last + 1], input_shape=shape, steps=net.steps)


def to_nir(net: HybridNet, dt: float = 1e-4) -> nir.NIRGraph:
    """The NIR graph of `net` at time step `dt`; every unsupported layer named in one error."""
    if not isinstance(net, HybridNet):
        raise UnsupportedLayerError(f"to_nir takes a HybridNet, got {type(net).__name__}")
    names = {id(m): n for n, m in net.named_modules()}
    stages = net.stages()
    first = stages[0] if stages else None
    shape = (first.n,) if isinstance(first, SpikeSource) else tuple(net.input_shape)
    if isinstance(first, SpikeSource) and len(stages) > 1 and isinstance(stages[1], SpikingConv):
        shape = nir_image(stages[1].input_shape)  # the spikes are the conv's input image
    if isinstance(first, (ImageSpikeSource, ImageSpikeEncoder)):
        shape = first.channels_first  # fed in NIR's order already
    nodes: Nodes = [("input", nir.Input(input_type=np.array(shape)))]
    refused = [
        f"layer '{names[id(s)]}' (SpikeSource) is not first; a spike source is the model's input"
        for s in stages[1:]
        if isinstance(s, SpikeSource)
    ]
    decoded_image = False  # a conv layer's counts, channels-last, which NIR nodes cannot read
    for stage in stages:
        name = names[id(stage)]
        if decoded_image:
            refused.append(
                f"layer '{name}' ({type(stage).__name__}) reads a conv layer's decoded counts, "
                f"which are channels-last (put a SpikingLinear before the decoder)"
            )
            break
        try:
            if isinstance(stage, ImageSpikeEncoder) and shape != stage.channels_first:
                shape = image_before(name, stage, nodes, shape)
            nodes += stage_nodes(name, stage, shape, dt)
        except UnsupportedLayerError as exc:
            refused.append(str(exc))
        decoded_image = isinstance(stage, SpikeDecoder) and len(shape) == 3
        if isinstance(stage, SpikingConv):
            shape = nir_image(stage.output_shape)
        elif isinstance(stage, (SpikeSource, ImageSpikeEncoder)) and len(shape) == 3:
            pass  # the Input's or the image encoder's image, NIR's (C, H, W)
        elif isinstance(stage, SPIKE_SOURCES):
            shape = (stage.n,)
        elif isinstance(stage, SpikingLinear):
            shape = (stage.lif.n,)
        elif not isinstance(stage, SpikeDecoder):
            shape = out_shape([stage], shape)
    if refused:
        raise UnsupportedNirNodeError(
            f"cannot write the model as NIR: {'; '.join(refused)}; fix: export only its "
            f"spiking part (`snapdeploy export --spiking-part`, or to_nir(spiking_section(net)))"
        )
    nodes.append(("output", nir.Output(output_type=np.array(shape))))
    edges = [(a, b) for (a, _), (b, _) in itertools.pairwise(nodes)]
    return nir.NIRGraph(
        nodes=dict(nodes),
        edges=edges,
        metadata={"producer": "snapdeploy", "dt": dt},
        type_check=False,
    )


def write_nir(graph: nir.NIRGraph, path: str | Path) -> Path:
    """Write `graph` as a NIR (HDF5) file atomically: a failed write leaves no half file."""
    buffer = io.BytesIO()
    nir.write(buffer, graph)
    path = Path(path)
    atomic_write(path, buffer.getvalue())
    return path
