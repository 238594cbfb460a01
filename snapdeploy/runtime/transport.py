"""Carrying spikes across a boundary as packets, counting what goes on the wire.

Every transport encodes with the packet codec of `core.packets` (AER or bitmap per step,
CRC32), so the bytes counted here are the bytes a link would carry, headers included.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from snapdeploy.core.packets import decode_steps, encode_steps


@dataclass
class BoundaryStats:
    """What crossed one boundary: packets, bytes on the wire, spikes, per-step activity."""

    boundary_id: int
    width: int
    steps: int
    samples: int = 0
    packets: int = 0
    wire_bytes: int = 0
    spikes: int = 0
    spikes_per_step: np.ndarray = field(default=None)  # type: ignore[assignment]
    first_sample_raster: np.ndarray | None = None  # bool [T, width] of the first sample

    def __post_init__(self) -> None:
        if self.spikes_per_step is None:
            self.spikes_per_step = np.zeros(self.steps, dtype=np.int64)

    def record(self, spikes: np.ndarray, packets: list[bytes]) -> None:
        self.samples += spikes.shape[1]
        self.packets += len(packets)
        self.wire_bytes += sum(len(p) for p in packets)
        self.spikes += int(spikes.sum())
        self.spikes_per_step += spikes.sum(axis=(1, 2))
        if self.first_sample_raster is None and spikes.shape[1] > 0:
            self.first_sample_raster = spikes[:, 0].copy()

    @property
    def fp16_bytes(self) -> int:
        """What the dense activation the spikes replace would cost as fp16."""
        return 2 * self.width * self.samples

    @property
    def spike_rate(self) -> float:
        """Spikes per neuron per step."""
        cells = self.samples * self.width * self.steps
        return self.spikes / cells if cells else 0.0


class InProcessTransport:
    """Boundaries inside one process: spikes are encoded, counted, and decoded back."""

    def __init__(self) -> None:
        self.stats: dict[int, BoundaryStats] = {}

    def carry(self, boundary_id: int, spikes: np.ndarray) -> np.ndarray:
        """Send bool [T, batch, n] through the codec; return what the receiver decodes."""
        steps, batch, width = spikes.shape
        packets = encode_steps(boundary_id, spikes)
        stats = self.stats.setdefault(boundary_id, BoundaryStats(boundary_id, width, steps))
        stats.record(spikes, packets)
        return decode_steps(packets, width, steps, batch, boundary_id=boundary_id)
