"""Where a partition sits in the LIF core: the layer table and the parameter image.

The same image is written into the parameter header (the on-chip memories' power-on
contents) and by the driver through the core's `params` port, so both come from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import accumulate

from snapdeploy.backends.fpga.params import LAYER_WORDS
from snapdeploy.backends.hls.fit import check_fit, layer_lanes, storage_bits
from snapdeploy.partition.partitions import SpikingPartition
from snapdeploy.targets.spec import HlsDevice


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
    weight_bits: (
        int  # width of a weight memory word (mantissa = weight >> fpga.params.WEIGHT_SHIFT)
    )

    @property
    def n_layers(self) -> int:
        return len(self.n_out)

    @property
    def n_neurons(self) -> int:
        return sum(self.n_out)

    @property
    def weight_bases(self) -> list[int]:
        return [0, *accumulate(i * o for i, o in zip(self.n_in, self.n_out))][:-1]

    @property
    def neuron_bases(self) -> list[int]:
        return [0, *accumulate(self.n_out)][:-1]

    @property
    def n_weights(self) -> int:
        return sum(i * o for i, o in zip(self.n_in, self.n_out))

    @property
    def bias_base(self) -> int:
        return LAYER_WORDS * self.n_layers

    @property
    def weight_base(self) -> int:
        return self.bias_base + self.n_neurons

    @property
    def image_words(self) -> int:
        return self.weight_base + self.n_weights


def core_layout(partition: SpikingPartition, device: HlsDevice) -> CoreLayout:
    """Check the partition fits the device, and lay it out."""
    check_fit(partition, device)
    return CoreLayout(
        partition=partition.name,
        n_in=[op.params.n_in for op in partition.ops],
        n_out=[op.params.n_out for op in partition.ops],
        lanes=layer_lanes(partition, device.neurons_per_core),
        lif_cores=device.lif_cores,
        neurons_per_core=device.neurons_per_core,
        state_bits=device.state_bits,
        weight_bits=storage_bits(device),
    )
