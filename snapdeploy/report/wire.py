"""What a cut's boundary puts on the wire, in the encodings the SNAP evaluation compares.

- frames: the runtime's own codec (`core.packets`), one frame per time step and block of
  samples, so the next die can take step t while step t+1 is still being encoded;
- counts: one message per window holding each channel's spike count, all the decoder uses
  (it sums a window's spikes), as T `core.packets` frames of thermometer levels: level j
  (frame step j) marks, among the cells whose count reached j, those that reach j + 1, so a
  level costs Rice-coded gaps or a bitmap over the cells still in play (near the entropy of
  skewed counts, headers and CRCs included); it needs the whole window before it is sent;
- signed counts: the same message for a signed cut's encoder spikes (each value's positive
  part, then its negative part: at most one of the two spikes), coded as one thermometer of
  magnitudes over the values and a frame of sign bits over the nonzero ones (step
  `SIGN_STEP`, right after level 0), so the silent half of every pair costs nothing;
- dense: the activation as fp16, int8 or int4 values, payload only (no header: a bound in
  the dense encodings' favour).
Sizes are the lengths of real encodings, which `decode_counts` and `decode_signed_counts`
invert exactly.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from snapdeploy.core.errors import PacketError
from snapdeploy.core.packets import decode_frame, encode_frame, encode_steps, iter_frames

#: The step field of a signed count message's sign frame (no level reaches it).
SIGN_STEP = 0xFFFF


def frame_bytes(spikes: np.ndarray, boundary_id: int = 0) -> int:
    """Bytes of bool [T, rows, n] spikes as the runtime's per-step frames, headers included."""
    return sum(len(frame) for frame in encode_steps(boundary_id, spikes))


def _levels(counts: np.ndarray, steps: int, boundary_id: int) -> list[bytes]:
    """Thermometer frames of int counts (flat, 0..steps): level j marks, among the cells
    whose count reached j, those whose count exceeds j."""
    frames, alive = [], np.ones(counts.shape, dtype=bool)
    for level in range(steps):
        if level and not alive.any():
            break
        frames.append(encode_frame(boundary_id, level, 0, (counts > level)[alive][None]))
        alive = counts > level
    return frames


def _read_level(frame: bytes, level: int, counts: np.ndarray, alive: np.ndarray) -> None:
    """Decode thermometer level `level` into `counts`; `alive` becomes the cells past it."""
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


def encode_counts(spikes: np.ndarray, boundary_id: int = 0) -> bytes:
    """One window of bool [T, rows, n] spikes as its per-cell counts (see the module)."""
    counts = spikes.sum(0, dtype=np.int64).reshape(-1)
    return b"".join(_levels(counts, spikes.shape[0], boundary_id))


def decode_counts(data: bytes, rows: int, n: int) -> np.ndarray:
    """Inverse of `encode_counts`: int64 [rows, n] spike counts of the window."""
    counts = np.zeros(rows * n, dtype=np.int64)
    alive = np.ones(rows * n, dtype=bool)
    for level, frame in enumerate(iter_frames(data)):
        _read_level(frame, level, counts, alive)
    return counts.reshape(rows, n)


def count_message_bytes(spikes: np.ndarray, boundary_id: int = 0) -> int:
    """Bytes of bool [T, rows, n] spikes as one window's count message, headers included."""
    return len(encode_counts(spikes, boundary_id))


def signed_values(spikes: np.ndarray) -> np.ndarray:
    """A signed cut's bool [T, ..., 2v] encoder spikes (v positive parts, then v negative
    parts) as int64 [..., v] signed counts, refusing spikes on both halves of a value."""
    if spikes.shape[-1] % 2:
        raise PacketError(
            f"signed count message: {spikes.shape[-1]} spike channels per row, but a signed "
            f"cut sends two per value; fix: send 'counts' for an unsigned cut"
        )
    counts = spikes.sum(0, dtype=np.int64)
    values = counts.shape[-1] // 2
    positive, negative = counts[..., :values], counts[..., values:]
    both = (positive > 0) & (negative > 0)
    if both.any():
        raise PacketError(
            f"signed count message: {int(both.sum())} values spiked on both their positive "
            f"and negative channel; only an encoder's own spikes (one half silent per value) "
            f"code as signed counts; fix: send 'counts' for spikes of a spiking layer"
        )
    return positive - negative


def unsigned_halves(values: np.ndarray) -> np.ndarray:
    """Inverse of `signed_values` on counts: int64 [..., v] -> [..., 2v] (positive parts,
    then negative parts' magnitudes)."""
    return np.concatenate([np.maximum(values, 0), np.maximum(-values, 0)], axis=-1)


def encode_signed_counts(spikes: np.ndarray, boundary_id: int = 0) -> bytes:
    """One window of a signed cut's bool [T, rows, 2v] encoder spikes (v positive parts, then
    v negative parts) as magnitude levels over the v values plus their signs."""
    signed = signed_values(spikes).reshape(-1)
    magnitude, negative = np.abs(signed), signed < 0
    first, *rest = _levels(magnitude, spikes.shape[0], boundary_id)
    signs = encode_frame(boundary_id, SIGN_STEP, 0, negative[magnitude > 0][None])
    return b"".join([first, signs, *rest])


def decode_signed_counts(data: bytes, rows: int, values: int) -> np.ndarray:
    """Inverse of `encode_signed_counts`: int64 [rows, 2 * values] counts of the window."""
    frames: Iterator[bytes] = iter(iter_frames(data))
    magnitude = np.zeros(rows * values, dtype=np.int64)
    alive = np.ones(rows * values, dtype=bool)
    _read_level(next(frames), 0, magnitude, alive)
    header, negative = decode_frame(next(frames), int(alive.sum()))
    if header.step != SIGN_STEP:
        raise PacketError(
            f"signed count message of boundary {header.boundary_id}: level {header.step} "
            f"came where the sign frame was due; the frames were reordered or lost"
        )
    signs = np.zeros(rows * values, dtype=bool)
    signs[np.flatnonzero(alive)[negative[0]]] = True
    for level, frame in enumerate(frames, start=1):
        _read_level(frame, level, magnitude, alive)
    return unsigned_halves(np.where(signs, -magnitude, magnitude).reshape(rows, values))


def signed_count_message_bytes(spikes: np.ndarray, boundary_id: int = 0) -> int:
    """Bytes of a signed cut's encoder spikes as one window's signed count message."""
    return len(encode_signed_counts(spikes, boundary_id))


def dense_bytes(values: int, bits: int) -> float:
    """Payload bytes of `values` activations at `bits` bits each (fp16 16, int8 8, int4 4)."""
    return values * bits / 8
