"""Does a partition's RTL core fit its part's block RAM? Checked at compile time, before any
Verilog is written, so a core that cannot be placed is refused with both numbers.

The core's memories are sized by the layout's capacities (powers of two), each word as wide
as the core declares it (lif_core.v): an estimate of block RAM, since a synthesis tool may
put small memories in LUTs and rounds large ones up to whole blocks.
"""

from __future__ import annotations

from snapdeploy.core.errors import CapacityError
from snapdeploy.targets.spec import RtlDevice

from .layout import DELAY_BITS, RtlLayout
from .synth import PARTS

#: Bits of one block of each block-RAM class of `synth.Part.capacity` (the UP5K's SPRAM is
#: not inferred for these memories, so it is not counted).
BLOCK_BITS = {"bram36": 36 * 1024, "bram18": 18 * 1024, "bram4k": 4 * 1024}
#: Block RAM of the parts an rtl device may name, in bits, from their block counts.
PART_MEMORY_BITS = {
    name: sum(
        BLOCK_BITS[kind] * count for kind, count in spec.capacity.items() if kind in BLOCK_BITS
    )
    for name, spec in PARTS.items()
}
#: Bits of the core's state words and biases (lif_core.v's U_W, V_W, A_W and bias_mem).
U_BITS, V_BITS, PENDING_BITS, BIAS_BITS = 44, 24, 26, 13


def memory_bits(layout: RtlLayout) -> dict[str, int]:
    """Bits of each on-chip memory of the core, at its capacity (the delay RAM only in a core
    built with the delay engine; the biases once per LIF lane)."""
    caps = layout.caps
    width_bits = (caps["width"] - 1).bit_length()
    acc_bits = width_bits + layout.weight_bits + 1
    return {
        "weights and kernels": caps["weights"] * layout.weight_bits,
        "delays": caps["delays"] * DELAY_BITS if "delay" in layout.engines else 0,
        "biases": caps["neurons"] * BIAS_BITS * layout.lif_lanes,  # a copy per LIF lane
        "u and v": caps["neurons"] * (U_BITS + V_BITS),
        "pending activations": caps["pending"] * PENDING_BITS,
        "accumulators": caps["acc_lines"] * layout.lanes * acc_bits,
    }


def check_memory(layout: RtlLayout, device: RtlDevice) -> None:
    """Refuse a core whose memories exceed the part's block RAM, naming the largest."""
    memories = memory_bits(layout)
    needed, available = sum(memories.values()), PART_MEMORY_BITS[device.part]
    if needed > available:
        largest = max(memories, key=memories.__getitem__)
        raise CapacityError(
            f"partition '{layout.partition}' on device '{device.name}' ({device.part}): its "
            f"core's memories need {needed} bits (estimate, at the capacities "
            f"{layout.caps}; the largest, {largest}, {memories[largest]}) but the part has "
            f"{available} bits of block RAM; fix: split the partition, use fewer channels or "
            f"shorter delays, or a larger part"
        )
