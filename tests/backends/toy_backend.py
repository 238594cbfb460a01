"""A backend kept in the tests to show what adding one takes: this file and one
`register_kind` call (made by the conformance suite, which then runs it like every other kind).

It runs each layer with the numpy specification of `core.neuron`, on a device whose only
limit is a neuron count.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import numpy as np

from snapdeploy.backends import CompiledPartition, ExecutorBase, KindEntry, SpikingBackend
from snapdeploy.core.neuron import LayerState, LifLayerParams, run_layer
from snapdeploy.partition.partitions import SpikingPartition
from snapdeploy.targets import DeviceSpec
from snapdeploy.targets.schema import limit


@dataclass(frozen=True)
class ToyDevice(DeviceSpec):
    kind: str = field(default="toy", init=False)
    neurons: int = limit(1024, ge=1)

    @classmethod
    def holding(cls, name: str, neurons: int) -> Self:
        return cls(name=name, neurons=neurons)


class ToyExecutor(ExecutorBase):
    def __init__(self, layers: list[LifLayerParams]):
        super().__init__(layers[0].n_in, layers[-1].n_out)
        self.layers = layers
        self.layer_states: list[LayerState] = []

    def _start(self, batch: int) -> None:
        self.layer_states = [LayerState.zeros(batch, p.n_out) for p in self.layers]

    def _advance(self, spikes: np.ndarray) -> np.ndarray:
        for state, layer in zip(self.layer_states, self.layers):
            spikes = run_layer(state, spikes, layer)
        return spikes

    def _layer_states(self) -> list[LayerState]:
        return [LayerState(s.u.copy(), s.v.copy(), s.a_pending.copy()) for s in self.layer_states]


class ToyBackend(SpikingBackend):
    kind = "toy"

    def neuron_capacity(self, device: ToyDevice) -> int:
        return device.neurons

    def emit(
        self, prepared: None, partition: SpikingPartition, device: ToyDevice, out: Path
    ) -> dict[str, Any]:
        return {}

    def open(self, compiled: CompiledPartition, partition: SpikingPartition) -> ToyExecutor:
        return ToyExecutor(partition.layers)


TOY = KindEntry(ToyDevice, f"{__name__}:ToyBackend", pricing="loihi")
