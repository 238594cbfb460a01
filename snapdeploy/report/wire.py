"""What a cut's boundary puts on the wire, in the encodings the SNAP evaluation compares.

- frames: the runtime's own codec (`core.packets`), one frame per time step and block of
  samples, so the next die can take step t while step t+1 is still being encoded;
- counts: one message per window holding each channel's spike count, all the decoder uses
  (it sums a window's spikes), as T `core.packets` frames of thermometer levels: level j
  (frame step j) marks, among the cells whose count reached j, those that reach j + 1, so a
  level costs Rice-coded gaps or a bitmap over the cells still in play (near the entropy of
  skewed counts, headers and CRCs included); it needs the whole window before it is sent;
- dense: the activation as fp16, int8 or int4 values, payload only (no header: a bound in
  the dense encodings' favour).
Sizes are the lengths of real encodings, which `decode_counts` inverts exactly.
"""

from __future__ import annotations

import numpy as np

from snapdeploy.core.errors import PacketError
from snapdeploy.core.packets import decode_frame, encode_frame, encode_steps, iter_frames


def frame_bytes(spikes: np.ndarray, boundary_id: int = 0) -> int:
    """Bytes of bool [T, rows, n] spikes as the runtime's per-step frames, headers included."""
    return sum(len(frame) for frame in encode_steps(boundary_id, spikes))


def encode_counts(spikes: np.ndarray, boundary_id: int = 0) -> bytes:
    """One window of bool [T, rows, n] spikes as its per-cell counts (see the module)."""
    counts = spikes.sum(0, dtype=np.int64).reshape(1, -1)
    frames, alive = [], np.ones(counts.shape, dtype=bool)
    for level in range(spikes.shape[0]):
        if level and not alive.any():
            break
        frames.append(encode_frame(boundary_id, level, 0, (counts > level)[alive][None]))
        alive = counts > level
    return b"".join(frames)


def decode_counts(data: bytes, rows: int, n: int) -> np.ndarray:
    """Inverse of `encode_counts`: int64 [rows, n] spike counts of the window."""
    counts = np.zeros(rows * n, dtype=np.int64)
    alive = np.ones(rows * n, dtype=bool)
    for level, frame in enumerate(iter_frames(data)):
        header, reached = decode_frame(frame, int(alive.sum()))
        if header.step != level:
            raise PacketError(
                f"count message of boundary {header.boundary_id}: level {header.step} came "
                f"where level {level} was due; the frames were reordered or lost"
            )
        cells = np.flatnonzero(alive)[reached[0]]
        counts[cells] += 1
        alive[:] = False
        alive[cells] = True
    return counts.reshape(rows, n)


def count_message_bytes(spikes: np.ndarray, boundary_id: int = 0) -> int:
    """Bytes of bool [T, rows, n] spikes as one window's count message, headers included."""
    return len(encode_counts(spikes, boundary_id))


def dense_bytes(values: int, bits: int) -> float:
    """Payload bytes of `values` activations at `bits` bits each (fp16 16, int8 8, int4 4)."""
    return values * bits / 8
