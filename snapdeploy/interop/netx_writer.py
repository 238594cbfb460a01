"""Our spiking graphs out as lava-dl netx networks (`.net`), the inverse of `netx.py`.

Each layer is written as slayer's `export_hdf5` writes its block (shapes (C, H, W), kernels
(C_out, C_in / groups, H, W, 1) as torch correlates them, a CUBA neuron group), so `read_netx`
reads it back to the same integers and lava-dl's `netx.hdf5.Network` builds it (all but
`pool` blocks, which netx itself does not build; and netx on Lava 0.10 clips negative dense
weights, see `netx.py`). netx can
only say part of what our layers can, and the rest is refused by name, not rounded:

- netx has no weight exponent (it derives one from the weights) and runs its neurons'
  bias at exponent 6: a layer's ``W * 2**weight_exp`` and ``bias_mant << bias_exp >> 6`` must
  be whole numbers in netx's widths;
- conv biases are per channel, so every position of a channel must share its bias;
- netx's LIF resets to zero: subtract-reset layers have no netx form;
- a netx network is spikes in: dense (ANN) ops and encoders stay out, and the one readout
  it has, slayer's `average`, is written from the decoder + group-mean `linear` pair that
  `read_netx` makes of it (any other decoder or dense op is refused).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from snapdeploy.core.conv import ConvLayerParams, ConvSynapse, PoolSynapse
from snapdeploy.core.errors import SnapdeployError
from snapdeploy.core.extras import needs
from snapdeploy.core.graph import DecoderOp, DenseOp, ModelGraph, Op, SpikeSourceOp, SpikingOp
from snapdeploy.core.neuron import LifLayerParams
from snapdeploy.interop.netx import (
    NETX_BIAS_EXP,
    NetxInput,
    NetxNeuron,
    average_readout,
    netx_order,
)

with needs("nir", __name__):  # h5py comes with the nir extra
    import h5py

#: netx's dense weights after its own scaling: Loihi's 8 bits and a sign.
DENSE_WEIGHT_RANGE = (-256, 254)
BIAS_RANGE = (-(1 << 12), (1 << 12) - 1)


class NetxExportError(SnapdeployError):
    """A graph holds something a netx network cannot say exactly."""


def whole(name: str, what: str, values: np.ndarray, shift: int, fix: str) -> np.ndarray:
    """values * 2**shift as integers, refusing any that would lose a fraction."""
    values = values.astype(np.int64)
    if shift >= 0:
        return np.left_shift(values, shift)
    if np.any(values % (1 << -shift)):
        raise NetxExportError(
            f"layer '{name}': its {what} times 2**{shift} are not whole numbers, and netx has "
            f"no exponent to hold them; fix: {fix}"
        )
    return np.right_shift(values, -shift)


def in_range(name: str, what: str, values: np.ndarray, bounds: tuple[int, int]) -> np.ndarray:
    if values.size and (values.min() < bounds[0] or values.max() > bounds[1]):
        raise NetxExportError(
            f"layer '{name}': its {what} span [{values.min()}, {values.max()}], beyond netx's "
            f"[{bounds[0]}, {bounds[1]}]; fix: re-quantize the layer with a smaller exponent"
        )
    return values


def netx_bias(name: str, params: LifLayerParams | ConvLayerParams) -> np.ndarray:
    """The bias netx runs at exponent 6 that equals ours, per neuron."""
    bias = whole(name, "biases", params.bias_mant, params.bias_exp - NETX_BIAS_EXP,
                 "use a bias exponent of 6 or more, or biases that are multiples of 2**(6 - exp)")  # fmt: skip
    return in_range(name, "netx biases", bias, BIAS_RANGE)


def write_neuron(group: h5py.Group, du: int, dv: int, vth: int) -> None:
    neuron = group.create_group("neuron")
    neuron.create_dataset("type", data=np.bytes_("CUBA"))
    for key, value in (("iDecay", du + 1), ("vDecay", dv), ("vThMant", vth), ("refDelay", 1)):
        neuron.create_dataset(key, data=value)


def new_block(f: h5py.File, index: int, kind: str, shape: tuple[int, ...]) -> h5py.Group:
    group = f.create_group(f"layer/{index}")
    group.create_dataset("type", (1,), "S10", [kind.encode("ascii")])
    group.create_dataset("shape", data=np.array(shape[::-1]))  # ours (x, y, c), netx (c, y, x)
    return group


def write_layer(f: h5py.File, index: int, op: SpikingOp, in_shape: tuple[int, ...]) -> int:
    """Write one layer (with a flatten before a dense one on an image); the next index."""
    name, params = op.name, op.params
    if params.reset != "zero":
        raise NetxExportError(
            f"layer '{name}' resets by subtraction, and netx's LIF resets to zero; fix: export "
            f"a network trained with reset to zero"
        )
    bias = netx_bias(name, params)
    if isinstance(params, ConvLayerParams):
        group = conv_block(f, index, name, params.synapse, bias)
    else:
        if len(in_shape) > 1:
            # the dense block after it reads the image in netx's flatten order
            new_block(f, index, "flatten", (int(np.prod(in_shape)),))
            index += 1
        group = dense_block(f, index, name, params, in_shape, bias)
    write_neuron(group, params.du, params.dv, params.vth)
    return index + 1


def channel_bias(name: str, bias: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    per_channel = bias.reshape(-1, shape[2])
    if np.any(per_channel != per_channel[0]):
        raise NetxExportError(
            f"layer '{name}': its biases differ across positions of a channel, and netx holds "
            f"one bias per channel; fix: train it with per-channel biases"
        )
    return per_channel[0]


def conv_block(
    f: h5py.File, index: int, name: str, synapse: ConvSynapse | PoolSynapse, bias: np.ndarray
) -> h5py.Group:
    group = new_block(f, index, "pool" if isinstance(synapse, PoolSynapse) else "conv",
                      synapse.output_shape)  # fmt: skip
    if isinstance(synapse, PoolSynapse):
        kx, ky = synapse.kernel
        group.create_dataset("weight", data=np.full((1, 1, ky, kx), synapse.weight, np.float32))
        geometry = {"kernelSize": (kx, ky), "stride": (kx, ky), "padding": (0, 0),
                    "dilation": (1, 1)}  # fmt: skip
    else:
        kernel = whole(name, "kernel", synapse.weights, synapse.weight_exp, "a smaller exponent")
        kernel = in_range(name, "kernel weights", kernel, (-256, 255))
        # ours convolves (C_out, x, y, C_in); netx stores torch's correlating (C_out, C_in, H, W)
        torch_kernel = kernel.transpose(0, 3, 2, 1)[:, :, ::-1, ::-1]
        group.create_dataset("weight", data=torch_kernel[..., None].astype(np.float32))
        geometry = {"kernelSize": synapse.kernel, "stride": synapse.stride,
                    "padding": synapse.padding, "dilation": synapse.dilation}  # fmt: skip
        group.create_dataset("groups", data=synapse.groups)
        group.create_dataset("inChannels", data=synapse.input_shape[2])
        group.create_dataset("outChannels", data=synapse.output_shape[2])
    for key, (x, y) in geometry.items():
        group.create_dataset(key, data=np.array([y, x]))  # netx stores (H, W)
    group.create_dataset("bias", data=channel_bias(name, bias, synapse.output_shape))
    return group


def dense_block(
    f: h5py.File,
    index: int,
    name: str,
    params: LifLayerParams,
    in_shape: tuple[int, ...],
    bias: np.ndarray,
) -> h5py.Group:
    weights = whole(name, "weights", params.weights, params.weight_exp,
                    "re-quantize the layer with weight_exp in [-1, 0] or even weights")  # fmt: skip
    weights = in_range(name, "netx weights", weights, DENSE_WEIGHT_RANGE)
    order = netx_order(in_shape)  # our column j is netx's column order[j]
    group = new_block(f, index, "dense", (params.n_out,))
    netx_weights = np.zeros_like(weights)
    netx_weights[:, order] = weights
    group.create_dataset("weight", data=netx_weights.astype(np.float32))
    group.create_dataset("inFeatures", data=params.n_in)
    group.create_dataset("outFeatures", data=params.n_out)
    if params.delays is not None:
        delays = np.zeros_like(params.delays)
        delays[:, order] = params.delays
        group.create_dataset("delay", data=delays.astype(np.float32))
    group.create_dataset("bias", data=bias)
    return group


def average_outputs(readout: list[Op], in_shape: tuple[int, ...]) -> int | None:
    """The number of outputs of the slayer average these trailing ops are, or None."""
    if len(readout) != 2 or not isinstance(readout[0], DecoderOp):
        return None
    dense = readout[1]
    if not isinstance(dense, DenseOp) or dense.op != "linear" or "bias" in dense.tensors:
        return None
    outputs = int(dense.tensors["weight"].shape[0])
    if outputs < 1 or int(np.prod(in_shape)) % outputs:
        return None
    _, want = average_readout(dense.name, in_shape, outputs)
    same = (
        np.array_equal(readout[0].scale, np.ones_like(readout[0].scale))
        and np.array_equal(dense.tensors["weight"], want.tensors["weight"])
        and np.array_equal(dense.tensors["weight_scale"], want.tensors["weight_scale"])
    )
    return outputs if same else None


def write_blocks(
    f: h5py.File, graph: ModelGraph, net_input: NetxInput | None, shape: tuple[int, ...]
) -> None:
    """The simulation settings, the Input block, then one block per layer (and the average
    readout where the graph ends in one)."""
    f.create_dataset("simulation/Ts", data=1)
    f.create_dataset("simulation/tSample", data=graph.steps)
    group = new_block(f, 0, "input", shape)
    if net_input is not None:
        write_neuron(group, net_input.neuron.du, net_input.neuron.dv, net_input.neuron.vth)
        for key, value in net_input.transform.items():
            group.create_dataset(key, data=np.array([value], np.float32))
    index, layers = 1, graph.ops[1:]
    for position, op in enumerate(layers):
        if not isinstance(op, SpikingOp):
            outputs = average_outputs(list(layers[position:]), shape)
            new_block(f, index, "average", (1, 1, outputs))  # netx's shape (outputs, 1, 1)
            return
        index = write_layer(f, index, op, shape)
        shape = shape_of(op)


def shape_of(op: SpikingOp) -> tuple[int, ...]:
    """A layer's output: an (x, y, channel) image for conv and pool, else a vector."""
    params = op.params
    return params.synapse.output_shape if isinstance(params, ConvLayerParams) else (params.n_out,)


def write_netx(
    graph: ModelGraph, path: str | Path, net_input: NetxInput | dict[str, Any] | None = None
) -> Path:
    """Write a spike-input graph's spiking layers as a netx network at `path` (atomically).

    `net_input` (a `NetxInput`, or its manifest record from `snapdeploy import`) becomes the
    Input block's CUBA neurons; without it the Input block is a shape alone.
    """
    path = Path(path)
    first, layers = graph.ops[0], graph.ops[1:]
    spiking = [op for op in layers if isinstance(op, SpikingOp)]
    others = [op.name for op in layers if not isinstance(op, SpikingOp)]
    if others and spiking and average_outputs(list(layers[len(spiking) :]), shape_of(spiking[-1])):
        others = []  # the graph ends in slayer's average readout
    if not isinstance(first, SpikeSourceOp) or others or not spiking:
        raise NetxExportError(
            f"a netx network is spike source -> spiking layers (-> an average readout), but "
            f"this graph has '{first.name}' ({type(first).__name__}) first and "
            f"{others or 'no'} other ops among its layers; fix: export only a spike-input "
            f"network's spiking part"
        )
    if isinstance(net_input, dict):
        net_input = NetxInput(tuple(net_input["shape"]), NetxNeuron(**net_input["neuron"]),
                              dict(net_input["transform"]))  # fmt: skip
    first_params = spiking[0].params
    shape = (
        first_params.synapse.input_shape
        if isinstance(first_params, ConvLayerParams)
        else (first_params.n_in,)
    )
    tmp = path.with_name(path.name + ".tmp")  # renamed into place whole, or removed
    try:
        with h5py.File(tmp, "w") as f:
            write_blocks(f, graph, net_input, tuple(shape))
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
