"""Does a spiking partition fit an HLS device? Cores, neurons per core, bit widths, and the
on-chip memory its weights, kernels, delay lines and state take.

Checked at compile time, so a partition that the FPGA cannot hold is refused with the number
that does not fit and what to change, before any C++ is written.
"""

from __future__ import annotations

import math

from snapdeploy.backends.fpga.params import layer_conv, signed_bits, stored_weights
from snapdeploy.core.errors import CapacityError, ParameterRangeError
from snapdeploy.partition.partitions import SpikingPartition
from snapdeploy.targets.spec import HlsDevice

#: u and v are signed 24-bit registers in Lava's LIF.
LIF_STATE_BITS = 24
#: The core stores weight mantissas in at most 16 bits (int16_t words).
MAX_WEIGHT_BITS = 16
#: The 32-bit accumulator holds a sum of |mantissa| <= 2^15 over fewer than 2^16 inputs
#: (a Dense layer's; a conv's sums are held below 2^31 by ConvSynapse.validate, as Lava's).
MAX_LAYER_INPUTS = (1 << 16) - 1
#: Block RAM of the FPGA parts the shipped targets name, in bits, by part-name prefix:
#: Zynq-7020 140 x 36 Kb (Xilinx DS190); the Alveo U250's part 2,688 x 36 Kb block RAM plus
#: 1,280 x 288 Kb UltraRAM (Xilinx DS962). Other parts are not checked.
PART_MEMORY_BITS = {
    "xc7z020": 140 * 36 * 1024,
    "xcu250": 2688 * 36 * 1024 + 1280 * 288 * 1024,
}


def layer_lanes(partition: SpikingPartition, neurons_per_core: int) -> list[int]:
    """LIF cores each layer spans: its neurons split over cores of `neurons_per_core`."""
    return [math.ceil(op.params.n_out / neurons_per_core) for op in partition.ops]


def storage_bits(device: HlsDevice) -> int:
    """Width of a stored Dense mantissa: the device's weight bits, at most 16."""
    return min(device.weight_bits, MAX_WEIGHT_BITS)


def kernel_bits(device: HlsDevice) -> int:
    """Width of a stored conv weight: one bit more than a Dense mantissa (Lava's Conv keeps
    the device's weight bits of magnitude and a sign, unhalved), at most 16."""
    return min(device.weight_bits + 1, MAX_WEIGHT_BITS)


def memory_word_bits(partition: SpikingPartition, device: HlsDevice) -> int:
    """Width of the core's weight memory words: wide enough for the kernels where any layer
    is a conv or pool."""
    convs = any(layer_conv(op.params) is not None for op in partition.ops)
    return kernel_bits(device) if convs else storage_bits(device)


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
        if layer_conv(op.params) is None and op.params.n_in > MAX_LAYER_INPUTS:
            raise CapacityError(
                f"{where}: layer '{op.name}' has {op.params.n_in} inputs but the core's "
                f"32-bit accumulator allows {MAX_LAYER_INPUTS}; fix: split the layer's inputs"
            )
    for op in partition.ops:
        conv = layer_conv(op.params) is not None
        allowed = kernel_bits(device) if conv else storage_bits(device)
        words = stored_weights(op.params)
        bits = signed_bits(int(words.min(initial=0)), int(words.max(initial=0)))
        if bits > allowed:
            stored = "kernel weights" if conv else "mantissas (weight / 2)"
            export = allowed - 1 if conv else allowed  # a kernel's sign bit comes on top
            raise ParameterRangeError(
                f"{where}: layer '{op.name}' has weights that need {bits}-bit {stored} but "
                f"the device stores {allowed}-bit weights; fix: export with weight_bits <= "
                f"{export}, or raise weight_bits in the target"
            )


def check_memory(memories: dict[str, int], partition: SpikingPartition, device: HlsDevice) -> None:
    """Refuse a partition whose on-chip memories (bits, by memory) exceed the part's block
    RAM, with both numbers and the largest memory named."""
    available = next(
        (bits for prefix, bits in PART_MEMORY_BITS.items() if device.part.startswith(prefix)),
        None,
    )
    needed = sum(memories.values())
    if available is not None and needed > available:
        largest = max(memories, key=memories.__getitem__)
        raise CapacityError(
            f"partition '{partition.name}' on device '{device.name}' ({device.part}): its "
            f"on-chip memories need {needed} bits (estimate; the largest, {largest}, "
            f"{memories[largest]}) but the part has {available} bits of block RAM; fix: "
            f"split the partition, use fewer channels or shorter delays, or a larger part"
        )
