"""Spike frames as the core reads and writes them: one bit per channel, packed in 32-bit words.

Bit i % 32 of word i // 32 is channel i; frames are [batch][step][words], so each batch item's
steps are contiguous in the buffer the core streams through.
"""

from __future__ import annotations

import numpy as np


def words_for(channels: int) -> int:
    return (channels + 31) // 32


def pack(spikes: np.ndarray, out: np.ndarray) -> None:
    """bool [T, batch, n] -> `out` uint32 [batch, T, words_for(n)], in place."""
    steps, batch, n = spikes.shape
    padded = np.zeros((batch, steps, words_for(n) * 32), dtype=np.uint8)
    padded[:, :, :n] = spikes.transpose(1, 0, 2)
    out[...] = np.packbits(padded, axis=-1, bitorder="little").view("<u4")


def unpack(words: np.ndarray, n: int) -> np.ndarray:
    """uint32 [batch, T, words] -> bool [T, batch, n]."""
    bits = np.unpackbits(np.ascontiguousarray(words).view(np.uint8), axis=-1, bitorder="little")
    return bits[:, :, :n].astype(bool).transpose(1, 0, 2)
