"""A partition laid out for the RTL core: memory capacities, the layer table, power-on words.

The capacities are powers of two at least the partition's sizes (with floors), so partitions
of similar size share one header and one Verilator build; the partition's own sizes and
geometry go into the layer table, which the core reads at run time. The parameter image is
the HLS core's, so the one driver loads either; the core places its weights (and a delay
layer's delays) into lines of SYN_LANES, one row starting a new line, so the synapse engine
reads a row's next SYN_LANES weights every cycle. A row is one input's synapses for a Dense or
delay layer, and one kernel tap's weights for one input channel (the C_out / groups weights
of its group, `fpga.params.scatter_kernel`) for a conv or sum pool.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import accumulate

import numpy as np

from snapdeploy.backends.fpga.params import (
    LAYER_WORDS,
    WEIGHT_SHIFT,
    Layer,
    layer_conv,
    signed_bits,
    stored_weights,
)
from snapdeploy.core.errors import CapacityError, ParameterRangeError
from snapdeploy.partition.partitions import SpikingPartition
from snapdeploy.targets.spec import RtlDevice

from .engines import check_engines, engines_for

#: Words before the per-layer entries of the layer table: n_layers, n_neurons, n_weights,
#: n_in, n_out, the parameter image's words, its layer words, pending activations.
TABLE_HEADER = 8
#: Words each layer's entry takes in the layer table (LAYER_FIELDS, then zeros).
TABLE_LAYER_WORDS = 64
#: Each layer's entry, in order. The first DENSE_FIELDS serve every layer: inputs, neurons,
#: first weight line, first neuron, synapse engine (SYNAPSE_KINDS), lines per row, weights
#: per row, delay-line depth, first pending activation, first delay line. A conv layer adds
#: its geometry: input channels, input y, channels per group, strides, paddings, the
#: dilation divided by the stride (quotient and remainder), kernel, output x, y, channels and
#: y * channels; each divisor (C, Y, CG, SX, SY) followed by its reciprocal (M, K: n // d is
#: n * M >> K for every numerator the core divides, `reciprocal`).
LAYER_FIELDS = (
    "N_IN", "N_OUT", "W_BASE", "N_BASE", "KIND", "STRIDE", "ROW_LEN", "DEPTH", "P_BASE",
    "D_BASE",
    "C", "M_C", "K_C", "Y", "M_Y", "K_Y", "CG", "M_CG", "K_CG", "SX", "M_SX", "K_SX", "SY",
    "M_SY", "K_SY", "PX", "PY", "DXQ", "DXR", "DYQ", "DYR", "KX", "KY", "XO", "YO", "CO",
    "YOCO",
)  # fmt: skip
DENSE_FIELDS = LAYER_FIELDS.index("C")
#: The synapse engines, as the KIND field numbers them.
SYNAPSE_KINDS = ("dense", "delay", "conv")
#: Weights the synapse engine adds per cycle (lanes of a weight line): a power of two >= 2.
#: 32: a lane's pipeline stages move only while they hold a weight, so the simulation's cost
#: of a lane falls mostly on the cycles it works; on the 256 x 256 bench case (interleaved in
#: one process, load 1.2-1.7) 16 lanes ran 140648 cycles at 1.85e6 neuron updates/s, 32 lanes
#: 107600 at 2.05e6, 64 lanes 92188 at 1.73e6.
SYN_LANES = 32
#: Parts whose core has fewer lanes: each lane is an accumulator bank (a block RAM) and a
#: column of the line's rotation and of the synapse pipeline. On the iCE40 UP5K the demo
#: partition's lean board top packs into 6163 logic cells at 4 lanes and 5924 at 2 (nextpnr,
#: before narrowing the counters), and 2 lanes leave 2 of the part's 30 EBR for the layer words.
PART_SYN_LANES = {"up5k": 2}
#: Parts whose core is built lean (the header's SNAP_LEAN: lif_params.vh.in says what it
#: trims): the iCE40 UP5K, where nextpnr packs a flip-flop into the logic cell of the LUT
#: feeding it only, so every register fed otherwise costs a cell of the part's 5280.
LEAN_PARTS = frozenset({"up5k"})
#: Neurons the LIF update takes per cycle (a power of two dividing SYN_LANES and 32; a delay
#: layer's still go one at a time, a column a cycle). Each lane is a copy of the update's
#: pipeline (5 multipliers) and of the biases, and a bank of u, v and the pending words. On
#: the 256 x 256 bench case (20 steps x 8 items; separate processes alternating, best of 3 x
#: 20 by CPU time, load 3.3-4.3) one lane (the core before) ran 107600 cycles at 2.30-2.40e6
#: neuron updates/s, 2 lanes 87280 at 2.51-2.52e6, 4 lanes 77040 at 2.36-2.46e6, 8 lanes
#: 71920 at 2.08e6; yosys maps the demo partition's core for the XC7Z020 to 4348 LUTs and 5
#: DSPs at one lane, 5542 and 10 at 2, 8249 and 20 at 4. 2 is the fastest simulation at a
#: quarter of 4's added logic.
LIF_LANES = 2
#: Parts whose core updates fewer neurons per cycle: the UP5K keeps its one pipeline.
PART_LIF_LANES = {"up5k": 1}
#: Smallest capacities: layers, neurons, weights, widest layer input or output, pending
#: activations, delays (in lines of the part's lanes), accumulator lines. Floors keep the
#: number of distinct builds small; every one is a BRAM-sized depth (and at least two lines).
FLOORS = {
    "layers": 4,
    "neurons": 256,
    "weights": 4096,
    "width": 64,
    "pending": 256,
    "delays": 2,
    "acc_lines": 4,
}
#: The core stores weights in at most 16 bits.
MAX_WEIGHT_BITS = 16
#: Bits of a stored delay (delays are 0..62).
DELAY_BITS = 6


def capacity(size: int, floor: int) -> int:
    """The smallest power of two >= both `size` and `floor`."""
    return max(floor, 1 << max(size - 1, 0).bit_length())


def reciprocal(divisor: int, bits: int) -> tuple[int, int]:
    """(M, K) with n // divisor == (n * M) >> K for every 0 <= n < 2**bits (Granlund and
    Montgomery's round-up multiplier: K = bits + ceil(log2 divisor), M = ceil(2**K / divisor),
    at most bits + 1 bits wide)."""
    shift = bits + (divisor - 1).bit_length()
    return -(-(1 << shift) // divisor), shift


@dataclass(frozen=True)
class RtlLayer:
    """What the core needs of one layer: sizes, its synapse engine and a conv's geometry."""

    n_in: int
    n_out: int
    kind: str  # SYNAPSE_KINDS
    rows: int  # weight rows: inputs, or kernel taps x input channels
    row_len: int  # weights per row: neurons, or a group's output channels
    depth: int  # pending activations per neuron: 1, or the delay line's columns
    lanes: int  # the synapse engine's SYN_LANES
    geometry: tuple[int, ...] = ()  # a conv's hls.layout.geometry order, else empty

    @classmethod
    def of(cls, layer: Layer, lanes: int) -> RtlLayer:
        conv = layer_conv(layer)
        if conv is not None:
            (kx, ky), c_in = conv.kernel, conv.input_shape[2]
            geometry = (
                *conv.input_shape, *conv.output_shape, kx, ky, *conv.stride, *conv.padding,
                *conv.dilation, conv.groups,
            )  # fmt: skip
            c_out = conv.output_shape[2]
            return cls(layer.n_in, layer.n_out, "conv", kx * ky * c_in, c_out // conv.groups,
                       1, lanes, geometry)  # fmt: skip
        kind = "dense" if layer.delays is None else "delay"
        return cls(layer.n_in, layer.n_out, kind, layer.n_in, layer.n_out,
                   max(layer.delay_depth, 1), lanes)  # fmt: skip

    @property
    def stride(self) -> int:
        """Weight lines per row: ceil(row_len / lanes)."""
        return -(-self.row_len // self.lanes)

    @property
    def lines(self) -> int:
        return self.rows * self.stride

    @property
    def acc_lines(self) -> int:
        """Accumulator lines: one sum per neuron (and delay), a neuron line's delays together."""
        return -(-self.n_out // self.lanes) * self.depth

    def conv_fields(self, bits: int) -> list[int]:
        """The conv part of the layer's entry (zeros for other layers)."""
        if self.kind != "conv":
            return [0] * (len(LAYER_FIELDS) - DENSE_FIELDS)
        _, y, c, xo, yo, co, kx, ky, sx, sy, px, py, dx, dy, groups = self.geometry
        fields = []
        for divisor in (c, y, c // groups, sx, sy):
            fields += [divisor, *reciprocal(divisor, bits)]
        return [*fields, px, py, dx // sx, dx % sx, dy // sy, dy % sy, kx, ky, xo, yo, co,
                yo * co]  # fmt: skip


@dataclass(frozen=True)
class RtlLayout:
    """One partition's layers and the memory capacities of its core."""

    partition: str
    layers: tuple[RtlLayer, ...]
    weight_bits: int
    lanes: int  # the synapse engine's, every layer's (rtl_layout sets both from the part)
    lif_lanes: int  # the LIF update's, from the part
    #: The optional engines (engines.ENGINES) the core is built with.
    engines: frozenset[str]
    #: Built lean (`LEAN_PARTS`): more cycles per step for fewer logic cells.
    lean: bool

    @property
    def n_in(self) -> list[int]:
        return [layer.n_in for layer in self.layers]

    @property
    def n_out(self) -> list[int]:
        return [layer.n_out for layer in self.layers]

    @property
    def n_neurons(self) -> int:
        return sum(self.n_out)

    @property
    def n_weights(self) -> int:
        return sum(layer.rows * layer.row_len for layer in self.layers)

    @property
    def delay_layers(self) -> list[RtlLayer]:
        return [layer for layer in self.layers if layer.kind == "delay"]

    @property
    def n_delays(self) -> int:
        return sum(layer.rows * layer.row_len for layer in self.delay_layers)

    @property
    def n_pending(self) -> int:
        return sum(layer.n_out * layer.depth for layer in self.layers)

    @property
    def n_lines(self) -> int:
        """Weight lines of the whole partition."""
        return sum(layer.lines for layer in self.layers)

    @property
    def divide_bits(self) -> int:
        """Bits of every numerator the conv engine divides (an input index, a padded
        coordinate): the width capacity's index bits and one more."""
        return (self.caps["width"] - 1).bit_length() + 1

    @property
    def caps(self) -> dict[str, int]:
        sizes = {
            "layers": len(self.layers),
            "neurons": self.n_neurons,
            "weights": self.n_lines * self.lanes,
            "width": max(self.n_in + self.n_out),
            "pending": self.n_pending,
            "delays": sum(layer.lines for layer in self.delay_layers) * self.lanes,
            "acc_lines": max(layer.acc_lines for layer in self.layers),
        }
        floors = FLOORS | {"delays": FLOORS["delays"] * self.lanes}
        return {name: capacity(size, floors[name]) for name, size in sizes.items()}

    @property
    def table_words(self) -> int:
        return TABLE_HEADER + TABLE_LAYER_WORDS * self.caps["layers"] + 4 * self.caps["layers"]

    def layer_table(self) -> np.ndarray:
        """The uint32 layer table: the header, each layer's entry (LAYER_FIELDS), then the
        load blocks the core places the image's weights and delays by (rows, weights per
        row: every layer's weights, then every delay layer's delays)."""
        layers, caps = self.layers, self.caps
        weight_bases = [0, *accumulate(layer.lines for layer in layers)][:-1]
        neuron_bases = [0, *accumulate(self.n_out)][:-1]
        pending_bases = [0, *accumulate(layer.n_out * layer.depth for layer in layers)][:-1]
        delay_lines = [layer.lines if layer.kind == "delay" else 0 for layer in layers]
        delay_bases = [0, *accumulate(delay_lines)][:-1]
        config_words = LAYER_WORDS * len(layers)
        header = [
            len(layers), self.n_neurons, self.n_weights, self.n_in[0], self.n_out[-1],
            config_words + self.n_neurons + self.n_weights + self.n_delays, config_words,
            self.n_pending,
        ]  # fmt: skip
        table = np.zeros(self.table_words, dtype=np.uint32)
        table[:TABLE_HEADER] = header
        for index, layer in enumerate(layers):
            entry = [
                layer.n_in, layer.n_out, weight_bases[index], neuron_bases[index],
                SYNAPSE_KINDS.index(layer.kind), layer.stride, layer.row_len, layer.depth,
                pending_bases[index], delay_bases[index], *layer.conv_fields(self.divide_bits),
            ]  # fmt: skip
            start = TABLE_HEADER + TABLE_LAYER_WORDS * index
            table[start : start + len(entry)] = entry
        blocks = [(layer.rows, layer.row_len) for layer in [*layers, *self.delay_layers]]
        start = TABLE_HEADER + TABLE_LAYER_WORDS * caps["layers"]
        table[start : start + 2 * len(blocks)] = [word for block in blocks for word in block]
        return table


def check_weight_bits(partition: SpikingPartition, device: RtlDevice) -> int:
    """The weight memory's word width: the device's weight bits for Dense mantissas, one more
    where a conv or pool keeps its unhalved kernel (as the HLS core stores them); refused
    where a layer's stored words need more, naming the layer."""
    allowed = min(device.weight_bits, MAX_WEIGHT_BITS)
    kernel_bits = min(device.weight_bits + 1, MAX_WEIGHT_BITS)
    convs = any(layer_conv(op.params) is not None for op in partition.ops)
    for op in partition.ops:
        conv = layer_conv(op.params) is not None
        words = stored_weights(op.params)
        bits = signed_bits(int(words.min(initial=0)), int(words.max(initial=0)))
        limit = kernel_bits if conv else allowed
        if bits > limit:
            stored = "kernel weights" if conv else f"mantissas (weight / {1 << WEIGHT_SHIFT})"
            raise ParameterRangeError(
                f"partition '{partition.name}' on device '{device.name}' ({device.part}): "
                f"layer '{op.name}' needs {bits}-bit {stored} but the core stores {limit}-bit "
                f"weights; fix: export with weight_bits <= {allowed}, or raise weight_bits in "
                f"the target"
            )
    return kernel_bits if convs else allowed


def check_divisions(layout: RtlLayout, partition: SpikingPartition) -> None:
    """Refuse a conv whose padded coordinates exceed what the core's dividers take."""
    most = 1 << layout.divide_bits
    for op, layer in zip(partition.ops, layout.layers):
        if layer.kind != "conv":
            continue
        x, y, _, _, _, _, _, _, _, _, px, py, *_ = layer.geometry
        padded = max(x - 1 + px, y - 1 + py)
        if padded >= most:
            raise CapacityError(
                f"partition '{partition.name}': layer '{op.name}' pads its ({x}, {y}) input to "
                f"coordinates up to {padded} but the core's conv engine divides numbers below "
                f"{most}; fix: use less padding"
            )


def rtl_layout(
    partition: SpikingPartition, device: RtlDevice, engines: frozenset[str] | None = None
) -> RtlLayout:
    """Check the partition's weights fit the device's weight memory, and lay it out with its
    part's synapse lanes and a core of `engines` (by default only those its layers use; a
    layer whose engine `engines` lacks is refused by name)."""
    lanes = PART_SYN_LANES.get(device.part, SYN_LANES)
    layers = tuple(RtlLayer.of(op.params, lanes) for op in partition.ops)
    kinds = [layer.kind for layer in layers]
    if engines is None:
        engines = engines_for(kinds)
    check_engines(kinds, engines, f"partition '{partition.name}'")
    layout = RtlLayout(
        partition=partition.name,
        layers=layers,
        weight_bits=check_weight_bits(partition, device),
        lanes=lanes,
        lif_lanes=PART_LIF_LANES.get(device.part, LIF_LANES),
        engines=frozenset(engines),
        lean=device.part in LEAN_PARTS,
    )
    check_divisions(layout, partition)
    return layout


def table_kinds(layer_table: np.ndarray) -> list[str]:
    """The synapse kind of each layer of a layer table (what its core's engines must run)."""
    kind = LAYER_FIELDS.index("KIND")
    entries = (TABLE_HEADER + TABLE_LAYER_WORDS * i + kind for i in range(int(layer_table[0])))
    return [SYNAPSE_KINDS[int(layer_table[at])] for at in entries]


def power_on_words(layout: RtlLayout, image: np.ndarray) -> dict[str, np.ndarray]:
    """The parameter image split into the core's memories, padded to their capacities:
    layer scalars, biases, the weights as [lines, lanes] and the delays likewise (what a
    bitstream holds at power-on)."""
    caps = layout.caps
    bias_base = LAYER_WORDS * len(layout.layers)
    weight_base = bias_base + layout.n_neurons
    delay_base = weight_base + layout.n_weights
    sections = {
        "config": (image[:bias_base], LAYER_WORDS * caps["layers"]),
        "bias": (image[bias_base:weight_base], caps["neurons"]),
    }
    padded = {}
    for name, (words, size) in sections.items():
        padded[name] = np.zeros(size, dtype=np.int64)
        padded[name][: len(words)] = words
    lanes = layout.lanes
    padded["weights"] = in_lines(
        layout.layers, image[weight_base:delay_base], caps["weights"], lanes
    )
    padded["delays"] = in_lines(layout.delay_layers, image[delay_base:], caps["delays"], lanes)
    return padded


def in_lines(
    layers: list[RtlLayer] | tuple[RtlLayer, ...], words: np.ndarray, cap: int, lanes: int
) -> np.ndarray:
    """A memory of lines [cap / lanes, lanes]: each layer's rows padded with zeros to whole
    lines."""
    lines = np.zeros((cap // lanes, lanes), dtype=np.int64)
    start, line = 0, 0
    for layer in layers:
        rows = words[start : start + layer.rows * layer.row_len].reshape(layer.rows, -1)
        padded = np.zeros((layer.rows, layer.stride * lanes), dtype=np.int64)
        padded[:, : layer.row_len] = rows
        lines[line : line + layer.lines] = padded.reshape(-1, lanes)
        start += layer.rows * layer.row_len
        line += layer.lines
    return lines
