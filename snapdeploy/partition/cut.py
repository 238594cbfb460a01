"""Cut a model graph at its spike boundaries into ordered dense and spiking partitions.

A cut falls after every encoder or spike source (its spikes leave the chip: a spike source,
the first op of a model whose input is spikes, makes a dense partition of its own that runs
on torch and emits the input's spikes) and wherever spiking layers start or stop, so every boundary carries spikes and nothing else. The graph has already
checked that its ops come in a runnable order (`core.graph.check_order`).
"""

from __future__ import annotations

from snapdeploy.core.graph import (
    SPIKE_SOURCES,
    DecoderOp,
    EncoderOp,
    ModelGraph,
    Op,
    SpikeSourceOp,
    SpikingOp,
    output_width,
)
from snapdeploy.partition.partitions import Boundary, DensePartition, Partition, SpikingPartition


def _groups(ops: tuple[Op, ...]) -> list[list[Op]]:
    groups: list[list[Op]] = []
    for prev, op in zip((None, *ops), ops):
        starts_new = (
            prev is None
            or isinstance(prev, SPIKE_SOURCES)
            or (isinstance(prev, SpikingOp) != isinstance(op, SpikingOp))
        )
        if starts_new:
            groups.append([])
        groups[-1].append(op)
    return groups


def cut(graph: ModelGraph) -> tuple[list[Partition], list[Boundary]]:
    """Partitions in execution order and the spike boundaries between consecutive ones."""
    partitions: list[Partition] = []
    for index, ops in enumerate(_groups(graph.ops)):
        cls = SpikingPartition if isinstance(ops[0], SpikingOp) else DensePartition
        prefix = "spiking" if cls is SpikingPartition else "dense"
        partitions.append(
            cls(name=f"p{index}_{prefix}", index=index, ops=tuple(ops), steps=graph.steps)
        )
    boundaries = [
        Boundary(
            id=i,
            src=i,
            dst=i + 1,
            width=output_width(p.ops[-1]),
            steps=graph.steps,
            values=dense_values(partitions[: i + 1]),
        )
        for i, p in enumerate(partitions[:-1])
    ]
    return partitions, boundaries


def dense_values(upstream: list[Partition]) -> int | None:
    """The dense values the spikes leaving the last of `upstream` stand for: those of the
    encoder that made them (through any spiking layers since), where it names them."""
    for partition in reversed(upstream):
        for op in reversed(partition.ops):
            if isinstance(op, EncoderOp):
                return op.values
            if isinstance(op, DecoderOp | SpikeSourceOp):
                return None
    return None
