"""The parameter image every FPGA LIF core loads through its `params` port.

One format for every core (HLS, RTL), so the shared driver loads any of them: per layer the
words weight_exp, du, dv, vth, bias_exp, reset (RESET_CODES: 0 resets v to zero on a spike as
Lava's LIF does, 1 subtracts vth << 6 as snnTorch's default Leaky does); then every neuron's
bias mantissa; then the weight mantissas input-major ([layer][input][neuron], so one spike
event reads one row). Weights are even (Lava's 8-bit mixed-sign form, enforced by
LifLayerParams.validate), so the cores store them halved: weight = mantissa << WEIGHT_SHIFT.
"""

from __future__ import annotations

import numpy as np

from snapdeploy.core.neuron import LifLayerParams
from snapdeploy.partition.partitions import SpikingPartition

#: Words per layer at the start of the image: weight_exp, du, dv, vth, bias_exp, reset.
LAYER_WORDS = 6
#: The reset word of each reset (core.neuron.RESETS).
RESET_CODES = {"zero": 0, "subtract": 1}
WEIGHT_SHIFT = 1


def parameter_image(layers: list[LifLayerParams]) -> np.ndarray:
    """The int32 parameter image of `layers`: layer words, biases, weight mantissas."""
    config = [[p.weight_exp, p.du, p.dv, p.vth, p.bias_exp, RESET_CODES[p.reset]] for p in layers]
    biases = [p.bias_mant.astype(np.int64) for p in layers]
    mantissas = [(p.weights.astype(np.int64) >> WEIGHT_SHIFT).T.ravel() for p in layers]
    return np.concatenate([np.asarray(config, dtype=np.int64).ravel(), *biases, *mantissas]).astype(
        np.int32
    )


def signed_bits(low: int, high: int) -> int:
    """The fewest two's-complement bits that hold every value in [low, high]."""
    bits = 1
    while low < -(1 << (bits - 1)) or high > (1 << (bits - 1)) - 1:
        bits += 1
    return bits


def weight_bits(partition: SpikingPartition) -> int:
    """Bits of the widest stored weight mantissa (weight >> WEIGHT_SHIFT) of the partition."""
    low = min(int(op.params.weights.min()) for op in partition.ops) >> WEIGHT_SHIFT
    high = max(int(op.params.weights.max()) for op in partition.ops) >> WEIGHT_SHIFT
    return signed_bits(low, high)
