"""Every core's synaptic input for the next step, compiled (`synapses.cpp`), event-driven.

The emulator's step, when no link overflows, delivers each slice's packets by a fixed rule
(routes depend only on the sending slice), so the input of a core is a sum over its weight
blocks of the columns whose presynaptic neuron fired, each scaled by the copies it receives
(`BlockSynapses`); a layer with delays, whose sums are one per (delay, neuron), is summed row
by row instead (`RowSynapses`), as its weights spread thinly over those sums. Where the kernel
cannot be built, the emulator runs its packet-level path instead.
"""

from __future__ import annotations

import ctypes
from functools import cache

import numpy as np

from snapdeploy.core.errors import BackendError
from snapdeploy.core.native import BASE_FLAGS, builds, load_library, pointer, threads
from snapdeploy.core.resources import package_path

SOURCE = package_path("snapdeploy.backends.spinnaker", "synapses.cpp")
INT32_LIMIT = 2**31


@cache
def kernel() -> ctypes.CDLL:
    lib = load_library(
        SOURCE, BASE_FLAGS, BackendError, "build the emulator with packet_level=True"
    )
    ptr, i64 = ctypes.c_void_p, ctypes.c_int64
    lib.spinn_block_input.argtypes = [i64, i64, ptr, i64, i64] + [ptr] * 6 + [i64, ctypes.c_int]
    lib.spinn_block_input.restype = None
    lib.spinn_block_rows.restype = ctypes.c_int
    lib.spinn_row_input.argtypes = [i64, i64] + [ptr] * 5 + [i64, ctypes.c_int]
    lib.spinn_row_input.restype = None
    return lib


@cache
def available() -> bool:
    return builds(kernel, "the SpiNNaker emulator routes packet by packet (slower)")


class BlockSynapses:
    """Weight blocks as (first sum fed, first global neuron read, weights [rows, columns]),
    padded to one shape (the kernel's fixed block height) and stored column by column; the
    sums are numbered apart from the neurons (a neuron has one per delay its layer uses)."""

    def __init__(self, blocks: list[tuple[int, int, np.ndarray]], n_neurons: int, n_sums: int):
        self.n_neurons = n_neurons
        self.n_sums = n_sums
        rows = kernel().spinn_block_rows()
        if any(len(w) > rows for *_, w in blocks):
            raise BackendError(f"synaptic blocks must be at most {rows} rows high (synapses.cpp)")
        width = max((w.shape[1] for *_, w in blocks), default=0)
        bound = max(
            (int(np.abs(w.astype(np.int64)).sum(axis=1).max()) for *_, w in blocks), default=0
        )
        if bound >= INT32_LIMIT:
            raise BackendError(
                f"a core's synaptic input can reach {bound}, beyond the emulator's int32 sums; "
                f"fix: lower the weights or the fan-in"
            )
        self.weights_t = np.zeros((len(blocks), width, rows), np.int32)
        self.first_out = np.array([out for out, _, _ in blocks], np.int64)
        self.first_in = np.array([first for _, first, _ in blocks], np.int64)
        self.n_rows = np.array([len(w) for *_, w in blocks], np.int64)
        self.n_cols = np.array([w.shape[1] for *_, w in blocks], np.int64)
        for b, (_, _, w) in enumerate(blocks):
            self.weights_t[b, : w.shape[1], : len(w)] = w.T

    def input(self, fired: np.ndarray) -> np.ndarray:
        """int64 [batch, n_sums]: each sum's weights of the neurons that fired [batch, n_neurons]."""
        fired = np.ascontiguousarray(fired, dtype=bool).view(np.uint8)
        batch = fired.shape[0]
        summed = np.zeros((batch, self.n_sums), np.int64)
        n_blocks, width, _ = self.weights_t.shape
        kernel().spinn_block_input(
            batch, self.n_neurons, pointer(fired), n_blocks, width, pointer(self.weights_t),
            pointer(self.first_in), pointer(self.n_cols), pointer(self.first_out),
            pointer(self.n_rows), pointer(summed), self.n_sums, threads(batch, summed.size),
        )  # fmt: skip
        return summed


class RowSynapses:
    """Synaptic rows of (sum, weight) words per presynaptic global neuron, compiled: `row_start`
    [n_neurons + 1] cuts `target` and `weight` into each neuron's row."""

    def __init__(self, row_start: np.ndarray, target: np.ndarray, weight: np.ndarray):
        if len(weight) and int(np.abs(weight).max()) >= INT32_LIMIT:
            raise BackendError(
                f"a synaptic word holds {int(np.abs(weight).max())}, beyond the emulator's int32; "
                f"fix: lower the weights"
            )
        self.row_start = np.ascontiguousarray(row_start, np.int64)
        self.target = np.ascontiguousarray(target, np.int64)
        self.weight = np.ascontiguousarray(weight, np.int32)

    def add(self, fired: np.ndarray, summed: np.ndarray) -> None:
        """Add into int64 summed [batch, n_sums] the rows of the neurons that fired [batch, n]."""
        fired = np.ascontiguousarray(fired, dtype=bool).view(np.uint8)
        batch, n_total = fired.shape
        kernel().spinn_row_input(
            batch, n_total, pointer(fired), pointer(self.row_start), pointer(self.target),
            pointer(self.weight), pointer(summed), summed.shape[1], threads(batch, summed.size),
        )  # fmt: skip
