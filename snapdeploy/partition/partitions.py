"""Partitions and the boundaries between them: the units a backend compiles.

A spiking partition is a chain of integer spiking layers (Dense, DelayDense, Conv or sum
pool, each feeding LIF neurons); a dense partition is a run of
dense operations that may start with a spike decoder and end with a spike encoder, or the
spike source alone of a model whose input is spikes. Every
boundary carries spikes, [T, batch, width] booleans, which is what crosses a chip boundary.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from snapdeploy.artifact.model import load_ops, save_ops
from snapdeploy.core.conv import ConvLayerParams
from snapdeploy.core.graph import (
    SPIKE_SOURCES,
    DecoderOp,
    DenseOp,
    EncoderOp,
    SpikeSourceOp,
    SpikingOp,
)
from snapdeploy.core.neuron import LifLayerParams

PARTITION_FILE = "partition.snap"


@dataclass(frozen=True)
class SpikingPartition:
    """Consecutive spiking layers; input and output are spikes."""

    name: str
    index: int
    ops: tuple[SpikingOp, ...]
    steps: int

    kind = "spiking"

    @property
    def layers(self) -> list[LifLayerParams | ConvLayerParams]:
        return [op.params for op in self.ops]

    @property
    def n_in(self) -> int:
        return self.ops[0].params.n_in

    @property
    def n_out(self) -> int:
        return self.ops[-1].params.n_out

    @property
    def n_neurons(self) -> int:
        return sum(op.params.n_out for op in self.ops)

    def save(self, directory: Path) -> Path:
        """Write the layers' integers to `directory`, for backends that rebuild from files."""
        return save_ops(directory / PARTITION_FILE, self.ops, {"steps": self.steps})

    @classmethod
    def load(cls, directory: Path, name: str, index: int) -> SpikingPartition:
        ops, manifest = load_ops(directory / PARTITION_FILE)
        return cls(name=name, index=index, ops=tuple(ops), steps=int(manifest["steps"]))


@dataclass(frozen=True)
class DensePartition:
    """Dense operations run on torch; may start with a decoder and end with an encoder, or
    be a model's spike source alone."""

    name: str
    index: int
    ops: tuple[DenseOp | EncoderOp | SpikeSourceOp | DecoderOp, ...]
    steps: int

    kind = "dense"

    def save(self, directory: Path) -> Path:
        return save_ops(directory / PARTITION_FILE, self.ops, {"steps": self.steps})

    @classmethod
    def load(cls, directory: Path, name: str, index: int) -> DensePartition:
        ops, manifest = load_ops(directory / PARTITION_FILE)
        return cls(name=name, index=index, ops=tuple(ops), steps=int(manifest["steps"]))

    @property
    def takes_spikes(self) -> bool:
        return isinstance(self.ops[0], DecoderOp)

    @property
    def emits_spikes(self) -> bool:
        return isinstance(self.ops[-1], SPIKE_SOURCES)


Partition = SpikingPartition | DensePartition


@dataclass(frozen=True)
class Boundary:
    """A spike link between two consecutive partitions; `values`: the dense values per sample
    its spikes stand for (None: one per spike channel; see `EncoderOp.values`)."""

    id: int
    src: int
    dst: int
    width: int
    steps: int
    values: int | None = None

    @property
    def fp16_bytes_per_sample(self) -> int:
        """What the dense activation it replaces would cost on the wire, as fp16."""
        return 2 * (self.width if self.values is None else self.values)
