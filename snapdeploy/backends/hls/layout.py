"""Where a partition sits in the LIF core: the layer table and the parameter image.

The same image is written into the parameter header (the on-chip memories' power-on
contents) and by the driver through the core's `params` port, so both come from here.
Each layer runs one of the core's synapse engines (`SYNAPSE_KINDS`): Dense, Dense with
axonal delays (Lava's DelayDense), or the event-driven conv engine (sum pools run on it as
the depthwise conv they are).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import accumulate

from snapdeploy.backends.fpga.params import LAYER_WORDS, Layer, layer_conv, stored_weights
from snapdeploy.backends.hls.fit import check_fit, layer_lanes, memory_word_bits
from snapdeploy.core.conv import ConvSynapse
from snapdeploy.partition.partitions import SpikingPartition
from snapdeploy.targets.spec import HlsDevice

#: The core's synapse engines, as lif_core.h numbers them (KIND_DENSE, KIND_DELAY, KIND_CONV).
SYNAPSE_KINDS = ("dense", "delay", "conv")
#: A conv layer's geometry as the header lists it: input x, y, channels, output x, y,
#: channels, kernel x, y, stride x, y, padding x, y, dilation x, y, groups.
GEOMETRY_FIELDS = 15
NO_GEOMETRY = (0,) * GEOMETRY_FIELDS


def geometry(conv: ConvSynapse) -> tuple[int, ...]:
    return (
        *conv.input_shape, *conv.output_shape, *conv.kernel, *conv.stride, *conv.padding,
        *conv.dilation, conv.groups,
    )  # fmt: skip


@dataclass(frozen=True)
class CoreLayout:
    """One partition laid out for one device's LIF cores (sizes, bases, widths)."""

    partition: str
    n_in: list[int]
    n_out: list[int]
    lanes: list[int]
    lif_cores: int
    neurons_per_core: int
    state_bits: int
    weight_bits: int  # width of a weight memory word (fpga.params.stored_weights)
    kinds: list[str]  # each layer's synapse engine (SYNAPSE_KINDS)
    depths: list[int]  # columns of each layer's pending activation: 1, or a delay line's
    weight_words: list[int]  # words each layer's weights (or kernel) take
    geometries: list[tuple[int, ...]]  # each conv layer's GEOMETRY_FIELDS, else zeros

    @property
    def n_layers(self) -> int:
        return len(self.n_out)

    @property
    def n_neurons(self) -> int:
        return sum(self.n_out)

    @property
    def weight_bases(self) -> list[int]:
        return [0, *accumulate(self.weight_words)][:-1]

    @property
    def neuron_bases(self) -> list[int]:
        return [0, *accumulate(self.n_out)][:-1]

    @property
    def n_weights(self) -> int:
        return sum(self.weight_words)

    @property
    def delay_words(self) -> list[int]:
        """Words of each layer's delays (one per synapse of a delay layer, else none)."""
        return [i * o if k == "delay" else 0 for i, o, k in zip(self.n_in, self.n_out, self.kinds)]

    @property
    def delay_bases(self) -> list[int]:
        return [0, *accumulate(self.delay_words)][:-1]

    @property
    def n_delays(self) -> int:
        return sum(self.delay_words)

    @property
    def pending_bases(self) -> list[int]:
        """Where each layer's pending activations ([neuron][column]) start in the core."""
        return [0, *accumulate(o * d for o, d in zip(self.n_out, self.depths))][:-1]

    @property
    def n_pending(self) -> int:
        return sum(o * d for o, d in zip(self.n_out, self.depths))

    @property
    def bias_base(self) -> int:
        return LAYER_WORDS * self.n_layers

    @property
    def weight_base(self) -> int:
        return self.bias_base + self.n_neurons

    @property
    def delay_base(self) -> int:
        return self.weight_base + self.n_weights

    @property
    def image_words(self) -> int:
        return self.delay_base + self.n_delays


def synapse_kind(layer: Layer) -> str:
    if layer_conv(layer) is not None:
        return "conv"
    return "dense" if layer.delays is None else "delay"


def core_layout(partition: SpikingPartition, device: HlsDevice) -> CoreLayout:
    """Check the partition fits the device's cores and widths, and lay it out."""
    check_fit(partition, device)
    layers = partition.layers
    return CoreLayout(
        partition=partition.name,
        n_in=[p.n_in for p in layers],
        n_out=[p.n_out for p in layers],
        lanes=layer_lanes(partition, device.neurons_per_core),
        lif_cores=device.lif_cores,
        neurons_per_core=device.neurons_per_core,
        state_bits=device.state_bits,
        weight_bits=memory_word_bits(partition, device),
        kinds=[synapse_kind(p) for p in layers],
        depths=[max(getattr(p, "delay_depth", 0), 1) for p in layers],
        weight_words=[stored_weights(p).size for p in layers],
        geometries=[
            NO_GEOMETRY if (conv := layer_conv(p)) is None else geometry(conv) for p in layers
        ],
    )
