"""The reference backend: the integer neuron of `core.neuron`, the oracle of every test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from snapdeploy.backends.base import LAYER_KINDS, CompiledPartition, ExecutorBase, SpikingBackend
from snapdeploy.core.neuron import LayerState, ReferenceNetwork
from snapdeploy.partition.partitions import SpikingPartition
from snapdeploy.targets.spec import ReferenceDevice


class NetworkExecutor(ExecutorBase):
    """Runs any network object with the reference's stepping interface (`reset(batch)`,
    `advance`, `states`): the reference network, or a board emulator that mimics it."""

    def __init__(self, network: Any):
        super().__init__(network.n_in, network.n_out)
        self.network = network

    def _start(self, batch: int) -> None:
        self.network.reset(batch)

    def _advance(self, spikes: np.ndarray) -> np.ndarray:
        return self.network.advance(spikes)[-1]

    def _layer_states(self) -> list[LayerState]:
        return [LayerState(s.u.copy(), s.v.copy(), s.a_pending.copy()) for s in self.network.states]

    def _clear(self) -> None:
        self.network.states = []

    def _release(self) -> None:
        self.network.states = []


class ReferenceBackend(SpikingBackend):
    """Runs every layer kind: conv, pooling, delays and subtract reset in `core`'s numpy,
    Dense layers in its compiled kernel."""

    kind = "reference"
    layer_kinds = LAYER_KINDS

    def neuron_capacity(self, device: ReferenceDevice) -> int | None:
        return device.max_neurons

    def emit(
        self, prepared: None, partition: SpikingPartition, device: ReferenceDevice, out: Path
    ) -> dict[str, Any]:
        return {}

    def open(self, compiled: CompiledPartition, partition: SpikingPartition) -> NetworkExecutor:
        return NetworkExecutor(ReferenceNetwork(partition.layers))
