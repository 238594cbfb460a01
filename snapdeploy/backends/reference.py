"""The reference backend: the numpy integer neuron of `core.neuron`, the oracle of every test."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from snapdeploy.backends.base import CompiledPartition, register_backend
from snapdeploy.core.errors import BackendError, CapacityError
from snapdeploy.core.neuron import ReferenceNetwork
from snapdeploy.partition.partitions import SpikingPartition


def check_spiking_partition(
    partition: SpikingPartition, device_name: str, max_neurons: int | None
) -> None:
    """Every layer within Loihi's widths, and the partition within the device's neurons."""
    for op in partition.ops:
        op.params.validate(op.name)
    if max_neurons is not None and partition.n_neurons > max_neurons:
        raise CapacityError(
            f"partition '{partition.name}' has {partition.n_neurons} neurons but device "
            f"'{device_name}' holds {max_neurons}; fix: place it on a larger device or "
            f"shrink its layers"
        )


class ReferenceExecutor:
    """Runs a partition step by step; state carries over between `run` calls."""

    def __init__(self, network: ReferenceNetwork):
        self.network = network

    def run(self, inputs: np.ndarray) -> np.ndarray:
        _, batch, width = inputs.shape
        if width != self.network.n_in:
            raise BackendError(f"expected {self.network.n_in} input channels, got {width}")
        if not self.network.states:
            self.network.reset(batch)
        elif self.network.states[0].u.shape[0] != batch:
            raise BackendError(
                f"batch changed from {self.network.states[0].u.shape[0]} to {batch} without "
                f"reset(); fix: call reset() between batches"
            )
        return self.network.advance(inputs)[-1]

    def reset(self) -> None:
        self.network.states = []

    def close(self) -> None:
        self.network.states = []


@register_backend
class ReferenceBackend:
    kind = "reference"

    def compile(self, partition: SpikingPartition, device, out: Path) -> CompiledPartition:
        check_spiking_partition(partition, device.name, getattr(device, "max_neurons", None))
        out.mkdir(parents=True, exist_ok=True)
        partition.save(out)
        return CompiledPartition.record_spiking(self.kind, partition, device, out)

    def load(self, compiled: CompiledPartition) -> ReferenceExecutor:
        partition = SpikingPartition.load(compiled.path, compiled.partition, compiled.meta["index"])
        return ReferenceExecutor(ReferenceNetwork(partition.layers))
