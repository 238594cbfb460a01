"""The parameter image every FPGA LIF core loads through its `params` port.

One format for every core (HLS, RTL), so the shared driver loads any of them, in sections:

1. per layer the words weight_exp, du, dv, vth, bias_exp, reset (RESET_CODES: 0 resets v to
   zero on a spike as Lava's LIF does, 1 subtracts vth << 6 as snnTorch's default Leaky does);
2. every neuron's bias mantissa;
3. every layer's stored weights (`stored_weights`): a Dense layer's mantissas input-major
   ([input][neuron], so one spike event reads one row); weights are even (Lava's 8-bit
   mixed-sign form, enforced by LifLayerParams.validate), so the cores store them halved:
   weight = mantissa << WEIGHT_SHIFT. A conv or sum-pool layer's kernel as its scatter reads
   it (`scatter_kernel`), unhalved (Lava's Conv keeps odd weights);
4. only where layers have axonal delays: each delay layer's delays, input-major like its
   weights.

A partition of Dense layers has sections 1-3 alone. Both cores run every layer kind from
this one image (the RTL core places a conv's kernel rows and a delay layer's delays into its
lines of SYN_LANES as it loads them).
"""

from __future__ import annotations

import numpy as np

from snapdeploy.core.conv import ConvLayerParams, ConvSynapse, PoolSynapse
from snapdeploy.core.neuron import LifLayerParams
from snapdeploy.partition.partitions import SpikingPartition

#: Words per layer at the start of the image: weight_exp, du, dv, vth, bias_exp, reset.
LAYER_WORDS = 6
#: The reset word of each reset (core.neuron.RESETS).
RESET_CODES = {"zero": 0, "subtract": 1}
WEIGHT_SHIFT = 1

Layer = LifLayerParams | ConvLayerParams


def layer_conv(layer: Layer) -> ConvSynapse | None:
    """The convolution a layer's synapse is (a sum pool's is a depthwise one), or None."""
    if not isinstance(layer, ConvLayerParams):
        return None
    synapse = layer.synapse
    return synapse.conv if isinstance(synapse, PoolSynapse) else synapse


def layer_weight_exp(layer: Layer) -> int:
    conv = layer_conv(layer)
    return layer.weight_exp if conv is None else conv.weight_exp


def scatter_kernel(conv: ConvSynapse) -> np.ndarray:
    """The flipped kernel as [kx][ky][C_in][C_out / groups]: an input spike of channel c
    (group g) meets, at kernel tap (i, j), the C_out / groups weights of group g's output
    channels in one contiguous run, W[g * C_out/g + m, kx - 1 - i, ky - 1 - j, c - g * C_in/g]."""
    (kx, ky), groups = conv.kernel, conv.groups
    c_out, c_group = conv.weights.shape[0], conv.weights.shape[3]
    flipped = conv.weights[:, ::-1, ::-1, :].reshape(groups, c_out // groups, kx, ky, c_group)
    return flipped.transpose(2, 3, 0, 4, 1).reshape(kx, ky, groups * c_group, c_out // groups)


def stored_weights(layer: Layer) -> np.ndarray:
    """The int64 words a layer's weight memory holds, in the core's order."""
    conv = layer_conv(layer)
    if conv is not None:
        return scatter_kernel(conv).astype(np.int64).ravel()
    return (layer.weights.astype(np.int64) >> WEIGHT_SHIFT).T.ravel()


def delay_layers(layers: list[Layer]) -> list[LifLayerParams]:
    return [p for p in layers if isinstance(p, LifLayerParams) and p.delays is not None]


def parameter_image(layers: list[Layer]) -> np.ndarray:
    """The int32 parameter image of `layers`: layer words, biases, weights, delays."""
    config = [
        [layer_weight_exp(p), p.du, p.dv, p.vth, p.bias_exp, RESET_CODES[p.reset]] for p in layers
    ]
    biases = [p.bias_mant.astype(np.int64) for p in layers]
    weights = [stored_weights(p) for p in layers]
    delays = [p.delays.astype(np.int64).T.ravel() for p in delay_layers(layers)]
    return np.concatenate(
        [np.asarray(config, dtype=np.int64).ravel(), *biases, *weights, *delays]
    ).astype(np.int32)


def signed_bits(low: int, high: int) -> int:
    """The fewest two's-complement bits that hold every value in [low, high]."""
    bits = 1
    while low < -(1 << (bits - 1)) or high > (1 << (bits - 1)) - 1:
        bits += 1
    return bits


def weight_bits(partition: SpikingPartition) -> int:
    """Bits of the widest stored weight word (a Dense weight >> WEIGHT_SHIFT, a conv weight)
    of the partition."""
    words = [stored_weights(op.params) for op in partition.ops]
    return signed_bits(min(int(w.min(initial=0)) for w in words),
                       max(int(w.max(initial=0)) for w in words))  # fmt: skip
