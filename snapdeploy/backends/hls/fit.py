"""Does a spiking partition fit an HLS device? Cores, neurons per core and bit widths.

Checked at compile time, so a partition that the FPGA cannot hold is refused with the number
that does not fit and what to change, before any C++ is written.
"""

from __future__ import annotations

import math

import numpy as np

from snapdeploy.backends.fpga.params import weight_bits
from snapdeploy.core.errors import CapacityError, ParameterRangeError
from snapdeploy.partition.partitions import SpikingPartition
from snapdeploy.targets.spec import HlsDevice

#: u and v are signed 24-bit registers in Lava's LIF.
LIF_STATE_BITS = 24
#: The core stores weight mantissas in at most 16 bits (int16_t words).
MAX_WEIGHT_BITS = 16
#: The 32-bit accumulator holds a sum of |mantissa| <= 2^15 over fewer than 2^16 inputs.
MAX_LAYER_INPUTS = (1 << 16) - 1


def layer_lanes(partition: SpikingPartition, neurons_per_core: int) -> list[int]:
    """LIF cores each layer spans: its neurons split over cores of `neurons_per_core`."""
    return [math.ceil(op.params.n_out / neurons_per_core) for op in partition.ops]


def storage_bits(device: HlsDevice) -> int:
    """Width of the core's weight memory words: the device's weight bits, at most 16."""
    return min(device.weight_bits, MAX_WEIGHT_BITS)


def check_fit(partition: SpikingPartition, device: HlsDevice) -> None:
    """Refuse a partition the device cannot hold, naming the number that does not fit (the
    layers' widths and the total neurons are checked by every backend's compile first)."""
    where = f"partition '{partition.name}' on device '{device.name}' ({device.part})"
    if device.state_bits < LIF_STATE_BITS:
        raise CapacityError(
            f"{where}: the LIF needs {LIF_STATE_BITS}-bit current and voltage registers but "
            f"the device has state_bits = {device.state_bits}; fix: set state_bits >= "
            f"{LIF_STATE_BITS} in the target"
        )
    cores = sum(layer_lanes(partition, device.neurons_per_core))
    if cores > device.lif_cores:
        raise CapacityError(
            f"{where}: its layers ({', '.join(str(op.params.n_out) for op in partition.ops)} "
            f"neurons) need {cores} LIF cores of {device.neurons_per_core} neurons but the "
            f"device has {device.lif_cores}; fix: shrink the layers, split the partition, or "
            f"use a device with more cores"
        )
    for op in partition.ops:
        if op.params.n_in > MAX_LAYER_INPUTS:
            raise CapacityError(
                f"{where}: layer '{op.name}' has {op.params.n_in} inputs but the core's "
                f"32-bit accumulator allows {MAX_LAYER_INPUTS}; fix: split the layer's inputs"
            )
    bits = weight_bits(partition)
    allowed = storage_bits(device)
    if bits > allowed:
        worst = max(partition.ops, key=lambda op: int(np.abs(op.params.weights).max()))
        raise ParameterRangeError(
            f"{where}: layer '{worst.name}' has weights that need {bits}-bit mantissas "
            f"(weight / 2) but the device stores {allowed}-bit weights; fix: export with "
            f"weight_bits <= {allowed}, or raise weight_bits in the target"
        )
