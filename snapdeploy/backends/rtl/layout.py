"""A partition laid out for the RTL core: memory capacities, the layer table, power-on words.

The capacities are powers of two at least the partition's sizes (with floors), so partitions
of similar size share one header and one Verilator build; the partition's own sizes go into
the layer table, which the core reads at run time. The parameter image is the HLS core's, so
the one driver loads either; the core places its weights into lines of SYN_LANES, one row of
a layer's weights (one input's synapses) starting a new line, so the synapse engine reads a
row's next SYN_LANES weights every cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import accumulate

import numpy as np

from snapdeploy.backends.fpga.params import LAYER_WORDS, WEIGHT_SHIFT, weight_bits
from snapdeploy.core.errors import ParameterRangeError
from snapdeploy.partition.partitions import SpikingPartition
from snapdeploy.targets.spec import RtlDevice

#: Words before the per-layer entries of the layer table: n_layers, n_neurons, n_weights,
#: n_in, n_out, the parameter image's words, its layer words, then a zero.
TABLE_HEADER = 8
#: Words per layer in the layer table: n_in, n_out, weight base (a line), neuron base.
TABLE_LAYER_WORDS = 4
#: Weights the synapse engine adds per cycle (lanes of a weight line): a power of two >= 2.
SYN_LANES = 16
#: Smallest capacities: layers, neurons, weights, widest layer input or output. Floors keep
#: the number of distinct builds small; every one is a BRAM-sized depth.
FLOORS = {"layers": 4, "neurons": 256, "weights": 4096, "width": 64}
#: The core stores weight mantissas in at most 16 bits.
MAX_WEIGHT_BITS = 16


def capacity(size: int, floor: int) -> int:
    """The smallest power of two >= both `size` and `floor`."""
    return max(floor, 1 << max(size - 1, 0).bit_length())


@dataclass(frozen=True)
class RtlLayout:
    """One partition's layer sizes and the memory capacities of its core."""

    partition: str
    n_in: list[int]
    n_out: list[int]
    weight_bits: int

    @property
    def n_neurons(self) -> int:
        return sum(self.n_out)

    @property
    def n_weights(self) -> int:
        return sum(i * o for i, o in zip(self.n_in, self.n_out))

    @property
    def row_lines(self) -> list[int]:
        """Weight lines per row of each layer: ceil(n_out / SYN_LANES)."""
        return [-(-o // SYN_LANES) for o in self.n_out]

    @property
    def n_lines(self) -> int:
        """Weight lines of the whole partition."""
        return sum(i * r for i, r in zip(self.n_in, self.row_lines))

    @property
    def caps(self) -> dict[str, int]:
        sizes = {
            "layers": len(self.n_out),
            "neurons": self.n_neurons,
            "weights": self.n_lines * SYN_LANES,
            "width": max(self.n_in + self.n_out),
        }
        return {name: capacity(size, FLOORS[name]) for name, size in sizes.items()}

    @property
    def table_words(self) -> int:
        return TABLE_HEADER + TABLE_LAYER_WORDS * self.caps["layers"]

    def layer_table(self) -> np.ndarray:
        """The uint32 layer table ROM: the header, then each layer's sizes and bases."""
        weight_bases = [0, *accumulate(i * r for i, r in zip(self.n_in, self.row_lines))][:-1]
        neuron_bases = [0, *accumulate(self.n_out)][:-1]
        image_words = LAYER_WORDS * len(self.n_out) + self.n_neurons + self.n_weights
        header = [
            len(self.n_out),
            self.n_neurons,
            self.n_weights,
            self.n_in[0],
            self.n_out[-1],
            image_words,
            LAYER_WORDS * len(self.n_out),
        ]
        layers = zip(self.n_in, self.n_out, weight_bases, neuron_bases)
        table = np.zeros(self.table_words, dtype=np.uint32)
        table[: len(header)] = header
        table[TABLE_HEADER : TABLE_HEADER + TABLE_LAYER_WORDS * len(self.n_out)] = [
            word for layer in layers for word in layer
        ]
        return table


def rtl_layout(partition: SpikingPartition, device: RtlDevice) -> RtlLayout:
    """Check the partition's weights fit the device's weight memory, and lay it out."""
    allowed = min(device.weight_bits, MAX_WEIGHT_BITS)
    bits = weight_bits(partition)
    if bits > allowed:
        raise ParameterRangeError(
            f"partition '{partition.name}' on device '{device.name}' ({device.part}): its "
            f"weights need {bits}-bit mantissas (weight / {1 << WEIGHT_SHIFT}) but the core "
            f"stores {allowed}-bit weights; fix: export with weight_bits <= {allowed}, or raise "
            f"weight_bits in the target"
        )
    return RtlLayout(
        partition=partition.name,
        n_in=[op.params.n_in for op in partition.ops],
        n_out=[op.params.n_out for op in partition.ops],
        weight_bits=allowed,
    )


def power_on_words(layout: RtlLayout, image: np.ndarray) -> dict[str, np.ndarray]:
    """The parameter image split into the core's memories, padded to their capacities:
    layer scalars, biases, and the weight mantissas as [lines, SYN_LANES] (what a bitstream
    holds at power-on)."""
    caps = layout.caps
    bias_base = LAYER_WORDS * len(layout.n_out)
    weight_base = bias_base + layout.n_neurons
    sections = {
        "config": (image[:bias_base], LAYER_WORDS * caps["layers"]),
        "bias": (image[bias_base:weight_base], caps["neurons"]),
    }
    padded = {}
    for name, (words, size) in sections.items():
        padded[name] = np.zeros(size, dtype=np.int64)
        padded[name][: len(words)] = words
    padded["weights"] = weight_lines(layout, image[weight_base:])
    return padded


def weight_lines(layout: RtlLayout, mantissas: np.ndarray) -> np.ndarray:
    """The weight RAM's lines: each layer's rows padded with zero weights to whole lines."""
    lines = np.zeros((layout.caps["weights"] // SYN_LANES, SYN_LANES), dtype=np.int64)
    start, line = 0, 0
    for n_in, n_out, per_row in zip(layout.n_in, layout.n_out, layout.row_lines):
        rows = mantissas[start : start + n_in * n_out].reshape(n_in, n_out)
        padded = np.zeros((n_in, per_row * SYN_LANES), dtype=np.int64)
        padded[:, :n_out] = rows
        lines[line : line + n_in * per_row] = padded.reshape(-1, SYN_LANES)
        start += n_in * n_out
        line += n_in * per_row
    return lines
