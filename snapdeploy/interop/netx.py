"""lava-dl netx networks (`.net`, HDF5) in: each block as the integer layer Lava runs.

lava-dl 0.6's `netx.hdf5.Network` builds Lava processes from the file; this reads the same
file into our layers, block by block as netx maps it (`netx/hdf5.py`, `netx/blocks/`):

- a CUBA/LOIHI neuron becomes our LIF with ``du = iDecay - 1``, ``dv = vDecay``,
  ``vth = vThMant``, ``bias_mant = bias`` (per channel, broadcast over x, y) and
  ``bias_exp = 6``; values are cast to int as netx's `NetDict` does;
- `input`: shapes are stored (C, H, W) and read reversed, as Lava's (x, y, channel). Its
  neuron (if any) is driven by its bias alone: netx leaves the drive to the user (its test
  sets `bias_mant` from a sample's data; the block's `weight`/`bias` transform is stored,
  unused by netx and by us). So the Input neuron is an integer encoder on the host
  (`NetxInput.spikes`), and the graph starts at a spike source of its shape;
- `conv`: kernels stored (C_out, C_in, H, W, 1) as torch correlates, flipped and transposed
  into Lava's convolving (C_out, x, y, C_in); stride, padding, dilation reversed to (x, y);
- `flatten` then `dense`: netx flattens in (channel, y, x) order, ours is (x, y, channel), so
  the dense weights' columns are permuted; weights that are not even are doubled with
  weight_exp -1 (exact: the right shift undoes the doubling); `delay` per synapse, per output
  or per input, clamped to 62, as netx expands it, becomes a DelayDense;
- `pool` (slayer's sum `Pool`, which netx itself does not build) becomes our sum pool;
- `average` (slayer's `Average`, which netx leaves unimplemented too) is a readout, not a
  neuron layer: each step it outputs the mean of each of its `shape` groups of consecutive
  inputs in slayer's flat (C, H, W) order (`torch.mean(x.reshape(N, outputs, -1, T), 2)`),
  graded values, not spikes. Summed over the run, that is the group means of the spike
  counts: a decoder of scale 1 and a dense `linear` op whose row k holds 1/group_size at
  group k's inputs (weight 1, scale float32(1/group_size)). It must be the last block.

Refused by name: sigma-delta and resonate-and-fire neurons, graded spikes, and the blocks no
layer here runs (`concat`, `convT`, `unpool`, recurrent and complex dense).

One difference from running the file through netx on Lava 0.10, on purpose: netx hands Lava's
Dense its own sign-mode enum, which Lava does not recognise, so Lava clips every negative
dense weight to 0; we keep the signed weights the file holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from snapdeploy.core.conv import ConvLayerParams, ConvSynapse, PoolSynapse
from snapdeploy.core.errors import SnapdeployError
from snapdeploy.core.extras import needs
from snapdeploy.core.graph import DecoderOp, DenseOp, ModelGraph, SpikeSourceOp, SpikingOp
from snapdeploy.core.neuron import (
    PARAM_RANGES,
    LayerState,
    LifLayerParams,
    lif_step,
)

with needs("nir", __name__):  # h5py comes with the nir extra
    import h5py

#: netx's `Network` stores its bias exponent as this constant, not in the file.
NETX_BIAS_EXP = 6
#: netx clamps delays to its DelayDense buffer.
NETX_MAX_DELAY = 62
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
NEURON_TYPES = ("LOIHI", "CUBA")


class NetxFormatError(SnapdeployError):
    """A file is not a netx network, or holds a block or neuron we cannot run."""


@dataclass(frozen=True)
class NetxNeuron:
    """A netx CUBA neuron's integers (the LIF of `core.neuron`)."""

    du: int
    dv: int
    vth: int


@dataclass(frozen=True)
class NetxInput:
    """netx's Input block: a LIF per input value driven by its bias, spiking on the host."""

    shape: tuple[int, ...]
    neuron: NetxNeuron
    transform: dict[str, int]

    @property
    def n(self) -> int:
        return int(np.prod(self.shape))

    def spikes(self, bias_mant: np.ndarray, steps: int) -> np.ndarray:
        """bool [steps, batch, n] from each sample's bias_mant [batch, n] (shifted by 6, as
        netx's neurons are), with no synaptic input: exactly the Input neurons on Lava."""
        batch = bias_mant.shape[0]
        layer = LifLayerParams(
            np.zeros((self.n, 0), dtype=np.int64), 0, self.neuron.du, self.neuron.dv,
            self.neuron.vth, bias_mant.astype(np.int64), NETX_BIAS_EXP,
        )  # fmt: skip
        state = LayerState.zeros(batch, self.n)
        idle = np.zeros((batch, self.n), dtype=np.int64)
        return np.stack([lif_step(state, idle, layer) for _ in range(steps)])


@dataclass(frozen=True)
class NetxModel:
    """A netx network read: its Input encoder (None: the input is spikes) and the graph."""

    graph: ModelGraph
    input: NetxInput | None
    source: dict[str, Any]


def is_netx(path: Path) -> bool:
    """An HDF5 file with netx's `layer` group (how `snapdeploy import` tells it from NIR)."""
    with path.open("rb") as handle:
        if handle.read(8) != HDF5_SIGNATURE:
            return False
    with h5py.File(path, "r") as f:
        return "layer" in f and "0" in f["layer"]


def value(group: h5py.Group, key: str) -> Any:
    """A dataset's value: arrays as arrays, one-element string arrays as str."""
    data = group[key][()]
    if isinstance(data, np.ndarray) and data.dtype.kind == "S":
        data = data.reshape(-1)[0]
    return data.decode("ascii") if isinstance(data, bytes) else data


def whc(group: h5py.Group) -> tuple[int, ...]:
    """A block's shape as Lava's (x, y, channel): netx stores (C, H, W)."""
    return tuple(int(d) for d in np.asarray(value(group, "shape"))[::-1])


def xy(group: h5py.Group, key: str, default: int) -> tuple[int, int]:
    """A (H, W) or scalar setting as an (x, y) pair, as netx's `expand` reads it."""
    if key not in group:
        return default, default
    data = np.asarray(value(group, key)).reshape(-1)
    return (int(data[0]),) * 2 if data.size == 1 else (int(data[1]), int(data[0]))


def read_neuron(name: str, group: h5py.Group) -> NetxNeuron:
    if "neuron" not in group:
        raise NetxFormatError(f"block '{name}' has no neuron; fix: give it a CUBA neuron")
    neuron = group["neuron"]
    kind = value(neuron, "type")
    if kind not in NEURON_TYPES:
        raise NetxFormatError(
            f"block '{name}' has a {kind} neuron; only CUBA (LOIHI) neurons run here (sigma-"
            f"delta and resonate-and-fire have no integer layer in snapdeploy); fix: train "
            f"the network with lava-dl's cuba blocks"
        )
    if "messageBits" in neuron and int(value(neuron, "messageBits")) > 0:
        raise NetxFormatError(
            f"block '{name}' sends graded spikes (messageBits > 0); fix: use binary spikes"
        )
    return NetxNeuron(
        du=int(value(neuron, "iDecay")) - 1,
        dv=int(value(neuron, "vDecay")),
        vth=int(value(neuron, "vThMant")),
    )


def neuron_fields(name: str, group: h5py.Group, shape: tuple[int, ...]) -> dict[str, Any]:
    """The LIF half of a layer: the neuron's integers and the bias, per neuron in our order."""
    neuron = read_neuron(name, group)
    channels = shape[-1]
    bias = np.zeros(channels, dtype=np.int64)
    if "bias" in group:
        bias = np.asarray(group["bias"][()]).astype(int).reshape(-1)
        if bias.size not in (1, channels):
            raise NetxFormatError(
                f"block '{name}' has {bias.size} biases for {channels} channels; fix: give one "
                f"bias per channel"
            )
    per_neuron = np.broadcast_to(bias, (*shape[:-1], channels)).reshape(-1)
    return {"du": neuron.du, "dv": neuron.dv, "vth": neuron.vth,
            "bias_mant": per_neuron.copy(), "bias_exp": NETX_BIAS_EXP}  # fmt: skip


def conv_layer(name: str, group: h5py.Group, in_shape: tuple[int, ...]) -> ConvLayerParams:
    weight = np.asarray(group["weight"][()]).astype(int)
    weight = weight[:, :, ::-1, ::-1].reshape(weight.shape[:4]).transpose(0, 3, 2, 1)
    synapse = ConvSynapse(
        weights=np.ascontiguousarray(weight),
        input_shape=in_shape,
        stride=xy(group, "stride", 1),
        padding=xy(group, "padding", 0),
        dilation=xy(group, "dilation", 1),
        groups=int(value(group, "groups")) if "groups" in group else 1,
    )
    check_shape(name, synapse.output_shape, whc(group))
    return ConvLayerParams(synapse, **neuron_fields(name, group, synapse.output_shape))


def pool_layer(name: str, group: h5py.Group, in_shape: tuple[int, ...]) -> ConvLayerParams:
    kernel = xy(group, "kernelSize", 1)
    weights = np.unique(np.asarray(group["weight"][()]).astype(int))
    if weights.size != 1:
        raise NetxFormatError(
            f"pool block '{name}' has {weights.size} different weights; slayer's Pool has one"
        )
    if (
        xy(group, "stride", kernel[0]) != kernel
        or xy(group, "padding", 0) != (0, 0)
        or xy(group, "dilation", 1) != (1, 1)
    ):
        raise NetxFormatError(
            f"pool block '{name}' has a stride other than its kernel {kernel}, padding or "
            f"dilation; slayer's Pool then mixes channels, which no layer here reproduces; fix: "
            f"pool with the default stride and no padding"
        )
    synapse = PoolSynapse(kernel, int(weights[0]), in_shape)
    check_shape(name, synapse.output_shape, whc(group))
    return ConvLayerParams(synapse, **neuron_fields(name, group, synapse.output_shape))


def netx_order(shape: tuple[int, ...]) -> np.ndarray:
    """For each of our flat (x, y, channel) indices, netx's flat (channel, y, x) index."""
    if len(shape) == 1:
        return np.arange(shape[0])
    x, y, c = np.indices(shape).reshape(3, -1)
    return c * shape[1] * shape[0] + y * shape[0] + x


def dense_layer(name: str, group: h5py.Group, in_shape: tuple[int, ...]) -> LifLayerParams:
    weight = np.asarray(group["weight"][()]).astype(int)
    n_in = int(np.prod(in_shape))
    weight = weight.reshape(int(np.prod(whc(group))), -1)  # netx stores (out, in), or flat
    if weight.shape[1] != n_in:
        raise NetxFormatError(
            f"dense block '{name}' takes {weight.shape[1]} inputs but the block before it "
            f"emits {n_in}; fix: check the file's flatten and shapes"
        )
    delays = None
    if "delay" in group:
        delays = expand_delays(name, np.asarray(group["delay"][()]), weight.shape)
        delays = delays[:, netx_order(in_shape)]
    weight = weight[:, netx_order(in_shape)]
    weight_exp = 0
    if np.any(weight % 2):  # our Dense holds Lava's even weights: double, shift back
        weight, weight_exp = 2 * weight, -1
    low, high = PARAM_RANGES["weights"]
    if weight.min(initial=0) < low or weight.max(initial=0) > high:
        raise NetxFormatError(
            f"dense block '{name}' has weights beyond Loihi's 8 bits and a sign; fix: "
            f"quantize them to [-128, 127]"
        )
    shape = (int(weight.shape[0]),)
    return LifLayerParams(
        weights=weight, weight_exp=weight_exp, delays=delays, **neuron_fields(name, group, shape)
    )


def expand_delays(name: str, delay: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """netx's reading of `delay`: scalar, per output, per input or per synapse; clamped to 62."""
    delay = np.clip(delay.astype(int), 0, NETX_MAX_DELAY)
    if delay.ndim == 0:
        return np.full(shape, int(delay))
    if delay.ndim == 1 and delay.size == shape[0]:
        return np.repeat(delay.reshape(-1, 1), shape[1], axis=1)
    if delay.ndim == 1 and delay.size == shape[1]:
        return np.repeat(delay.reshape(1, -1), shape[0], axis=0)
    if delay.shape == shape:
        return delay
    raise NetxFormatError(
        f"dense block '{name}' has delays of shape {delay.shape} for weights {shape}; fix: one "
        f"delay per output, per input or per synapse"
    )


def check_shape(name: str, computed: tuple[int, ...], stored: tuple[int, ...]) -> None:
    if tuple(computed) != tuple(stored):
        raise NetxFormatError(
            f"block '{name}' declares shape {stored} (x, y, channel) but its settings give "
            f"{computed}; fix: re-export the network from lava-dl"
        )


BUILDERS = {"conv": conv_layer, "pool": pool_layer, "dense": dense_layer}


def average_ops(
    name: str, group: h5py.Group, in_shape: tuple[int, ...]
) -> list[DecoderOp | DenseOp]:
    """slayer's `Average` summed over the run: spike counts, then each group's mean."""
    outputs, n_in = int(np.prod(value(group, "shape"))), int(np.prod(in_shape))
    if outputs < 1 or n_in % outputs:
        raise NetxFormatError(
            f"average block '{name}' has {outputs} outputs for {n_in} inputs; slayer's Average "
            f"needs groups of equal size; fix: give it a number of outputs dividing {n_in}"
        )
    return average_readout(name, in_shape, outputs)


def average_readout(
    name: str, in_shape: tuple[int, ...], outputs: int
) -> list[DecoderOp | DenseOp]:
    """The decoder (scale 1) and group-mean `linear` op of an average over `in_shape`."""
    n_in = int(np.prod(in_shape))
    size = n_in // outputs
    weight = np.zeros((outputs, n_in), dtype=np.int8)
    weight[netx_order(in_shape) // size, np.arange(n_in)] = 1
    readout = {"weight": weight, "weight_scale": np.full(outputs, 1 / size, dtype=np.float32)}
    return [
        DecoderOp(f"{name}_counts", n_in, np.ones(n_in, dtype=np.float32)),
        DenseOp(name, "linear", {"bits": 8}, readout),
    ]


def read_netx(path: str | Path, blocks: int | None = None) -> NetxModel:
    """Read a netx `.net` file into our graph: a spike source, then one layer per block.

    `blocks` reads only the first blocks, as netx's `num_layers` does (to leave out a
    trailing readout such as `average`, for a network that ends in spikes).
    """
    path = Path(path)
    if not path.is_file() or not is_netx(path):
        raise NetxFormatError(
            f"{path} is not a lava-dl netx network (an HDF5 file with a 'layer' group); fix: "
            f"export it with lava-dl's `export_hdf5`"
        )
    with h5py.File(path, "r") as f:
        groups = f["layer"]
        steps = int(value(f, "simulation/tSample")) if "simulation/tSample" in f else 1
        net_input, shape, ops = None, None, []
        for index in range(len(groups) if blocks is None else min(blocks, len(groups))):
            group = groups[str(index)]
            kind, name = value(group, "type"), f"{value(group, 'type')}{index}"
            if kind == "input":
                shape = whc(group)
                if "neuron" in group:
                    transform = {k: int(np.asarray(value(group, k)).reshape(-1)[0])
                                 for k in ("weight", "bias") if k in group}  # fmt: skip
                    net_input = NetxInput(shape, read_neuron(name, group), transform)
            elif kind == "flatten":
                continue  # the dense block after it reads netx's flatten order
            elif ops and isinstance(ops[-1], DenseOp):
                raise NetxFormatError(
                    f"{path}: block '{name}' follows the average readout '{ops[-1].name}', "
                    f"whose output is graded values, not spikes; fix: end the network with "
                    f"the average block (or read the blocks before it with --blocks)"
                )
            elif kind == "average":
                if not ops:
                    raise NetxFormatError(
                        f"{path}: the average block '{name}' has no layer before it"
                    )
                ops += average_ops(name, group, shape)
            elif kind in BUILDERS:
                if shape is None:
                    raise NetxFormatError(f"{path}: block '{name}' comes before any input shape")
                try:
                    params = BUILDERS[kind](name, group, shape)
                except KeyError as exc:  # h5py: a dataset the block needs is absent
                    raise NetxFormatError(
                        f"{path}: block '{name}' lacks {exc}; fix: re-export it from lava-dl"
                    ) from exc
                params.validate(name)
                ops.append(SpikingOp(name, params))
                shape = params.synapse.output_shape if kind != "dense" else (params.n_out,)
            else:
                raise NetxFormatError(
                    f"{path}: block '{name}' is a netx '{kind}' block, which has no layer here "
                    f"(conv, pool, dense, flatten, average and input do); fix: drop it from "
                    f"the exported network or export a network without it"
                )
    if not ops:
        raise NetxFormatError(f"{path}: the network has no layer after its input")
    n_in = ops[0].params.n_in
    graph = ModelGraph((SpikeSourceOp("input", n_in, steps), *ops), (steps, n_in), steps)
    return NetxModel(graph, net_input, {"format": "netx", "file": path.name, "steps": steps})
