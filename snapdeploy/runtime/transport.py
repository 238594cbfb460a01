"""Carrying spikes across a boundary as frames, counting what goes on the wire.

Every transport encodes with the codec of `core.packets` (one frame per step and block of
samples, CRC32), so the bytes counted here are the bytes a link would carry, headers
included. `LinkSender` and `LinkReceiver` are the two ends of one boundary in a pipelined
run; `InProcessTransport` carries a whole [T, batch, n] block at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from snapdeploy.core.errors import PacketError
from snapdeploy.core.packets import MAX_ROWS, decode_frame, encode_frame, read_header
from snapdeploy.runtime.errors import CorruptFrameError
from snapdeploy.runtime.links import Link, QueueLink


@dataclass
class BoundaryStats:
    """What crossed one boundary: frames, bytes on the wire, spikes, per-step activity."""

    boundary_id: int
    width: int
    steps: int
    samples: int = 0
    packets: int = 0
    wire_bytes: int = 0
    spikes: int = 0
    spikes_per_step: np.ndarray = field(default=None)  # type: ignore[assignment]
    first_sample_raster: np.ndarray | None = None  # bool [T, width] of the first sample
    _raster_open: bool = field(default=False, repr=False)  # still filling the raster's steps
    values: int | None = None  # dense values per sample the spikes stand for (None: width)

    def __post_init__(self) -> None:
        if self.spikes_per_step is None:
            self.spikes_per_step = np.zeros(self.steps, dtype=np.int64)

    def record_step(self, step: int, spikes: np.ndarray, frames: list[bytes]) -> None:
        """Count one step of a block of samples, bool [batch, width], sent as `frames`."""
        if step == 0:
            self.samples += spikes.shape[0]
        self.packets += len(frames)
        self.wire_bytes += sum(len(f) for f in frames)
        count = int(np.count_nonzero(spikes))
        self.spikes += count
        self.spikes_per_step[step] += count
        if step == 0 and self.first_sample_raster is None and len(spikes):
            self.first_sample_raster = np.zeros((self.steps, self.width), dtype=bool)
            self._raster_open = True
        if self._raster_open:
            self.first_sample_raster[step] = spikes[0]
            self._raster_open = step < self.steps - 1

    def merge(self, other: BoundaryStats) -> None:
        """Add another sender's counts of the same boundary (runs split over ranks or resumes)."""
        self.samples += other.samples
        self.packets += other.packets
        self.wire_bytes += other.wire_bytes
        self.spikes += other.spikes
        self.spikes_per_step += other.spikes_per_step
        if self.first_sample_raster is None:
            self.first_sample_raster = other.first_sample_raster

    @property
    def dense_values(self) -> int:
        """Values per sample of the dense activation the spikes replace."""
        return self.width if self.values is None else self.values

    @property
    def fp16_bytes(self) -> int:
        """What the dense activation the spikes replace would cost as fp16."""
        return 2 * self.dense_values * self.samples

    @property
    def spike_rate(self) -> float:
        """Spikes per neuron per step."""
        cells = self.samples * self.width * self.steps
        return self.spikes / cells if cells else 0.0


class LinkSender:
    """The sending end of a boundary: encodes each step (as a delta where smaller) and counts."""

    def __init__(
        self, boundary_id: int, link: Link, width: int, steps: int, values: int | None = None
    ):
        self.boundary_id = boundary_id
        self.link = link
        self.stats = BoundaryStats(boundary_id, width, steps, values=values)
        self._previous: np.ndarray | None = None

    def send(self, first_sample: int, step: int, spikes: np.ndarray) -> None:
        """Send bool [batch, width] spikes of `step` for samples from `first_sample` on."""
        previous = self._previous if step > 0 else None
        frames = [
            encode_frame(
                self.boundary_id,
                step,
                first_sample + start,
                spikes[block],
                None if previous is None else previous[block],
            )
            for start in range(0, len(spikes), MAX_ROWS)
            for block in [slice(start, start + MAX_ROWS)]
        ]
        for frame in frames:
            self.link.send(frame)
        self.stats.record_step(step, spikes, frames)
        self._previous = spikes


class LinkReceiver:
    """The receiving end: checks every frame is the one expected, decodes it against the last step."""

    def __init__(self, boundary_id: int, link: Link, width: int):
        self.boundary_id = boundary_id
        self.link = link
        self.width = width
        self._previous: np.ndarray | None = None

    def recv(self, first_sample: int, rows: int, step: int, timeout: float) -> np.ndarray:
        """The bool [rows, width] spikes of `step` for samples from `first_sample` on."""
        previous = self._previous if step > 0 else None
        blocks = []
        for start in range(0, rows, MAX_ROWS):
            expected = (self.boundary_id, step, first_sample + start, min(MAX_ROWS, rows - start))
            frame = self.link.recv(timeout)
            try:
                header = read_header(frame)
                got = (header.boundary_id, header.step, header.first_batch, header.rows)
                if got != expected:
                    raise PacketError(
                        f"frame {header.where()} arrived where boundary {expected[0]} step "
                        f"{step} samples {expected[2]}..{expected[2] + expected[3] - 1} was due"
                    )
                before = None if previous is None else previous[start : start + expected[3]]
                blocks.append(decode_frame(frame, self.width, before)[1])
            except PacketError as error:
                raise CorruptFrameError(
                    f"{self.link.name}: {error}; the frame was not used"
                ) from None
        self._previous = np.concatenate(blocks) if len(blocks) > 1 else blocks[0]
        return self._previous


class InProcessTransport:
    """Boundaries inside one process: spikes are encoded, counted, and decoded back."""

    def __init__(self) -> None:
        self.stats: dict[int, BoundaryStats] = {}

    def carry(self, boundary_id: int, spikes: np.ndarray) -> np.ndarray:
        """Send bool [T, batch, n] through the codec; return what the receiver decodes."""
        steps, batch, width = spikes.shape
        link = QueueLink(f"boundary {boundary_id}")
        sender = LinkSender(boundary_id, link, width, steps)
        receiver = LinkReceiver(boundary_id, link, width)
        received = np.zeros_like(spikes)
        if batch:
            for t in range(steps):
                sender.send(0, t, spikes[t])
                received[t] = receiver.recv(0, batch, t, timeout=0.0)
        stats = self.stats.setdefault(boundary_id, BoundaryStats(boundary_id, width, steps))
        stats.merge(sender.stats)
        return received
