"""The graph cut: partitions fall after every encoder (or spike source) and where spiking layers
start or stop,
each boundary is as wide as the spikes that cross it, and no op is lost or reordered."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from snapdeploy.core.graph import (
    DecoderOp,
    DenseOp,
    EncoderOp,
    ModelGraph,
    SpikeSourceOp,
    SpikingOp,
)
from snapdeploy.core.neuron import LifLayerParams
from snapdeploy.nn import (
    DenseBlock,
    HybridNet,
    SpikeBoundary,
    SpikeDecoder,
    SpikeEncoder,
    SpikingBlock,
    SpikingLinear,
)
from snapdeploy.partition import Boundary, DensePartition, SpikingPartition, cut
from snapdeploy.quant.export import export_model
from tests.models import hybrid_net
from tests.strategies import params

T = 4


def exported(*blocks: nn.Module, input_shape: tuple[int, ...] = (6,)) -> ModelGraph:
    torch.manual_seed(0)
    return export_model(HybridNet(*blocks, input_shape=input_shape, steps=T))


def kinds(partitions) -> list[str]:
    return [p.kind for p in partitions]


def op_types(partition) -> list[type]:
    return [type(op) for op in partition.ops]


def test_dense_spiking_dense_is_cut_after_the_encoder_and_before_the_decoder():
    graph = export_model(hybrid_net([5, 4, 3], T, n_in=6, n_out=2))
    partitions, boundaries = cut(graph)

    assert [p.name for p in partitions] == ["p0_dense", "p1_spiking", "p2_dense"]
    assert [p.index for p in partitions] == [0, 1, 2]
    assert kinds(partitions) == ["dense", "spiking", "dense"]
    assert isinstance(partitions[0], DensePartition)
    assert isinstance(partitions[1], SpikingPartition)
    assert isinstance(partitions[2], DensePartition)
    assert op_types(partitions[0]) == [DenseOp, DenseOp, EncoderOp]
    assert op_types(partitions[1]) == [SpikingOp, SpikingOp]
    assert op_types(partitions[2]) == [DecoderOp, DenseOp]
    assert all(p.steps == T for p in partitions)

    assert boundaries == [
        Boundary(id=0, src=0, dst=1, width=5, steps=T),
        Boundary(id=1, src=1, dst=2, width=3, steps=T),
    ]
    assert [b.fp16_bytes_per_sample for b in boundaries] == [10, 6]

    spiking = partitions[1]
    assert (spiking.n_in, spiking.n_out, spiking.n_neurons) == (5, 3, 4 + 3)
    assert [layer.n_out for layer in spiking.layers] == [4, 3]
    assert not partitions[0].takes_spikes and partitions[0].emits_spikes
    assert partitions[2].takes_spikes and not partitions[2].emits_spikes


def test_spike_boundary_gives_two_dense_partitions_and_one_boundary():
    graph = exported(
        DenseBlock(nn.Linear(6, 5), nn.ReLU()),
        SpikeBoundary(5, T),
        DenseBlock(nn.Linear(5, 2)),
    )
    partitions, boundaries = cut(graph)

    assert [p.name for p in partitions] == ["p0_dense", "p1_dense"]
    assert kinds(partitions) == ["dense", "dense"]
    assert op_types(partitions[0]) == [DenseOp, DenseOp, EncoderOp]
    assert op_types(partitions[1]) == [DecoderOp, DenseOp]
    assert boundaries == [Boundary(id=0, src=0, dst=1, width=5, steps=T)]


def test_a_model_ending_in_spikes_has_a_spiking_last_partition():
    graph = exported(
        DenseBlock(nn.Linear(6, 5)), SpikeEncoder(5, T), SpikingBlock(SpikingLinear(5, 2))
    )
    partitions, boundaries = cut(graph)

    assert [p.name for p in partitions] == ["p0_dense", "p1_spiking"]
    assert boundaries == [Boundary(id=0, src=0, dst=1, width=5, steps=T)]


def test_an_encoder_first_model_gets_an_encoder_only_dense_partition():
    graph = exported(SpikeEncoder(6, T), SpikingBlock(SpikingLinear(6, 4)), SpikeDecoder(4, T))
    partitions, boundaries = cut(graph)

    assert [p.name for p in partitions] == ["p0_dense", "p1_spiking", "p2_dense"]
    assert op_types(partitions[0]) == [EncoderOp]
    assert op_types(partitions[2]) == [DecoderOp]
    assert [b.width for b in boundaries] == [6, 4]


def test_a_spike_source_is_a_dense_partition_of_its_own_that_emits_the_input_spikes():
    graph = export_model(hybrid_net([6, 4], T, n_out=2, spike_input=True))
    partitions, boundaries = cut(graph)

    assert kinds(partitions) == ["dense", "spiking", "dense"]
    assert op_types(partitions[0]) == [SpikeSourceOp]
    assert partitions[0].emits_spikes and not partitions[0].takes_spikes
    assert [b.width for b in boundaries] == [6, 4]


def test_two_spiking_regions_give_five_partitions_with_their_own_widths():
    graph = exported(
        DenseBlock(nn.Linear(6, 5)),
        SpikeEncoder(5, T),
        SpikingBlock(SpikingLinear(5, 4)),
        SpikeDecoder(4, T),
        DenseBlock(nn.Linear(4, 7), nn.ReLU()),
        SpikeEncoder(7, T),
        SpikingBlock(SpikingLinear(7, 3)),
        SpikeDecoder(3, T),
        DenseBlock(nn.Linear(3, 2)),
    )
    partitions, boundaries = cut(graph)

    assert [p.name for p in partitions] == [
        "p0_dense",
        "p1_spiking",
        "p2_dense",
        "p3_spiking",
        "p4_dense",
    ]
    assert [(b.src, b.dst, b.width) for b in boundaries] == [
        (0, 1, 5),
        (1, 2, 4),
        (2, 3, 7),
        (3, 4, 3),
    ]
    assert [b.id for b in boundaries] == [0, 1, 2, 3]


def test_a_decoder_directly_followed_by_an_encoder_is_one_dense_partition():
    graph = exported(
        DenseBlock(nn.Linear(6, 5)),
        SpikeBoundary(5, T),  # encoder + decoder
        SpikeEncoder(5, T),
        SpikingBlock(SpikingLinear(5, 2)),
        SpikeDecoder(2, T),
    )
    partitions, boundaries = cut(graph)

    assert kinds(partitions) == ["dense", "dense", "spiking", "dense"]
    assert op_types(partitions[1]) == [DecoderOp, EncoderOp]
    assert [b.width for b in boundaries] == [5, 5, 2]


def test_a_dense_only_model_is_one_partition_without_boundaries():
    graph = exported(DenseBlock(nn.Linear(6, 3), nn.ReLU(), nn.Linear(3, 2)))
    partitions, boundaries = cut(graph)

    assert [p.name for p in partitions] == ["p0_dense"]
    assert boundaries == []


# --- properties over random graphs ---------------------------------------------------------


def lif(n_in: int, n_out: int) -> LifLayerParams:
    return params(np.zeros((n_out, n_in)), vth=1)


@st.composite
def graphs(draw) -> ModelGraph:
    """Any runnable sequence: dense ops, encoders, spiking chains, decoders, in legal order."""
    steps = draw(st.integers(1, 6))
    ops = []
    width = None  # spike width in flight; None: a dense activation
    for i in range(draw(st.integers(1, 12))):
        name = f"op{i}"
        if width is None:
            if draw(st.booleans()):
                ops.append(DenseOp(name, "relu"))
            else:
                width = draw(st.integers(1, 9))
                ops.append(EncoderOp(name, width, steps, 1.0, 0.0))
        elif draw(st.booleans()):
            n_out = draw(st.integers(1, 9))
            ops.append(SpikingOp(name, lif(width, n_out)))
            width = n_out
        else:
            ops.append(DecoderOp(name, width, np.ones(width, dtype=np.float32)))
            width = None
    return ModelGraph(ops=tuple(ops), input_shape=(3,), steps=steps)


def spike_width_out(op) -> int | None:
    if isinstance(op, (EncoderOp, DecoderOp)):
        return op.n
    if isinstance(op, SpikingOp):
        return op.params.n_out
    return None


def spike_width_in(op) -> int | None:
    if isinstance(op, DecoderOp):
        return op.n
    if isinstance(op, SpikingOp):
        return op.params.n_in
    return None


@settings(max_examples=150, deadline=None)
@given(graphs())
def test_cut_keeps_every_op_in_order_and_every_boundary_carries_spikes(graph):
    partitions, boundaries = cut(graph)

    assert tuple(op for p in partitions for op in p.ops) == graph.ops
    assert len(boundaries) == len(partitions) - 1
    for index, partition in enumerate(partitions):
        assert partition.index == index
        assert partition.name == f"p{index}_{partition.kind}"
        assert partition.steps == graph.steps
        spiking = [isinstance(op, SpikingOp) for op in partition.ops]
        assert all(spiking) if partition.kind == "spiking" else not any(spiking)
        # encoders only end a partition; decoders only start one
        for position, op in enumerate(partition.ops):
            if isinstance(op, EncoderOp):
                assert position == len(partition.ops) - 1
            if isinstance(op, DecoderOp):
                assert position == 0
    for i, (boundary, src, dst) in enumerate(zip(boundaries, partitions, partitions[1:])):
        assert (boundary.id, boundary.src, boundary.dst, boundary.steps) == (
            i,
            i,
            i + 1,
            graph.steps,
        )
        assert boundary.width == spike_width_out(src.ops[-1]) == spike_width_in(dst.ops[0])
        assert boundary.width is not None


@settings(max_examples=150, deadline=None)
@given(graphs())
def test_cut_is_minimal(graph):
    """No cut without a reason: after an encoder, or where spiking starts or stops."""
    partitions, _ = cut(graph)
    for src, dst in itertools.pairwise(partitions):
        last, first = src.ops[-1], dst.ops[0]
        assert isinstance(last, EncoderOp) or (
            isinstance(last, SpikingOp) != isinstance(first, SpikingOp)
        )
    for partition in partitions:
        for prev, op in zip(partition.ops, partition.ops[1:]):
            assert not isinstance(prev, EncoderOp)
            assert isinstance(prev, SpikingOp) == isinstance(op, SpikingOp)


@pytest.mark.parametrize("width", [1, 17])
def test_boundary_width_follows_the_encoder_width(width):
    graph = exported(
        DenseBlock(nn.Linear(6, width)),
        SpikeEncoder(width, T),
        SpikingBlock(SpikingLinear(width, 2)),
        SpikeDecoder(2, T),
    )
    _, boundaries = cut(graph)
    assert [b.width for b in boundaries] == [width, 2]
    assert boundaries[0].fp16_bytes_per_sample == 2 * width
