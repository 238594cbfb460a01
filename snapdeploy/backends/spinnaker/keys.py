"""32-bit multicast routing keys: chip x | chip y | core | neuron index, fields sized from the target.

Why this layout: a key names the core that sent it, so a slice's keys share one mask (all
bits above the neuron field) and a router needs one entry per slice, not per neuron, or, for
a slice routed in blocks of its neurons (`route_units`), one per block; and a key read off a
link says where it came from without any table.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from snapdeploy.core.errors import CapacityError
from snapdeploy.targets.spec import SpiNNakerDevice

KEY_BITS = 32
FULL_MASK = (1 << KEY_BITS) - 1


def bits_for(count: int) -> int:
    """Bits that number 0..count-1 (0 bits for a single value)."""
    return max(count - 1, 0).bit_length()


@dataclass(frozen=True)
class KeyLayout:
    """Field widths of a key, from the most significant: x, y, core, neuron."""

    x_bits: int
    y_bits: int
    core_bits: int
    neuron_bits: int

    @classmethod
    def of(cls, device: SpiNNakerDevice) -> KeyLayout:
        layout = cls(
            bits_for(device.width),
            bits_for(device.height),
            bits_for(device.cores_per_chip),
            bits_for(device.neurons_per_core),
        )
        total = layout.x_bits + layout.y_bits + layout.core_bits + layout.neuron_bits
        if total > KEY_BITS:
            raise CapacityError(
                f"device '{device.name}': a routing key needs {total} bits (x {layout.x_bits}, "
                f"y {layout.y_bits}, core {layout.core_bits}, neuron {layout.neuron_bits}) but "
                f"keys have {KEY_BITS}; fix: fewer chips, cores per chip or neurons per core"
            )
        return layout

    def base(self, x: np.ndarray, y: np.ndarray, core: np.ndarray) -> np.ndarray:
        """uint32 key of neuron 0 on (x, y, core)."""
        shifted = (
            (np.asarray(x, np.uint64) << np.uint64(self.y_bits)) | np.asarray(y, np.uint64)
        ) << np.uint64(self.core_bits)
        shifted = (shifted | np.asarray(core, np.uint64)) << np.uint64(self.neuron_bits)
        return shifted.astype(np.uint32)

    def to_json(self) -> dict[str, int]:
        return asdict(self)
