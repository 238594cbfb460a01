"""The model graph's rules for a spike source (a model whose input is already spikes): only
first, followed by spiking layers or a decoder, as wide and as long as the model's input."""

from __future__ import annotations

import numpy as np
import pytest

from snapdeploy.core.errors import ModelStructureError
from snapdeploy.core.graph import (
    SPIKE_SOURCES,
    DecoderOp,
    DenseOp,
    EncoderOp,
    ModelGraph,
    SpikeSourceOp,
    SpikingOp,
    output_width,
)
from tests.strategies import params

T = 4


def layer(name: str, n_in: int, n_out: int) -> SpikingOp:
    return SpikingOp(name, params(np.zeros((n_out, n_in))))


def graph(*ops, input_shape=(T, 3), steps=T) -> ModelGraph:
    return ModelGraph(ops=tuple(ops), input_shape=input_shape, steps=steps)


def test_a_spike_source_may_feed_spiking_layers_or_a_decoder():
    source = SpikeSourceOp("events", 3, T)
    assert (
        graph(source, layer("l0", 3, 2), DecoderOp("dec", 2, np.ones(2, np.float32))).ops[0]
        is source
    )
    assert len(graph(source, DecoderOp("dec", 3, np.ones(3, np.float32))).ops) == 2
    assert len(graph(source).ops) == 1
    assert (
        output_width(source) == 3 and SpikeSourceOp in SPIKE_SOURCES and EncoderOp in SPIKE_SOURCES
    )


@pytest.mark.parametrize(
    ("ops", "match"),
    [
        ((SpikeSourceOp("events", 3, T), DenseOp("fc", "relu")), "SpikeDecoder"),
        (
            (SpikeSourceOp("events", 3, T), SpikeSourceOp("again", 3, T)),
            "put it first, and only once",
        ),
        (
            (SpikeSourceOp("events", 3, T), EncoderOp("enc", 3, T, 1.0, 0.0)),
            "remove the extra encoder",
        ),
        ((DenseOp("fc", "relu"), SpikeSourceOp("events", 3, T)), "'events'.*after 'fc'.*first"),
        ((SpikeSourceOp("events", 3, T), layer("l0", 4, 2)), "expects 4 spike channels.*emits 3"),
    ],
    ids=["dense-after", "two-sources", "encoder-after", "not-first", "width"],
)
def test_a_misplaced_or_mismatched_spike_source_is_refused(ops, match):
    with pytest.raises(ModelStructureError, match=match):
        graph(*ops)


def test_a_spiking_layer_first_names_both_ways_in():
    with pytest.raises(ModelStructureError, match="SpikeEncoder.*SpikeSource"):
        graph(layer("l0", 3, 2))


def test_the_spike_source_must_span_the_models_steps_and_input():
    with pytest.raises(ModelStructureError, match="SpikeSourceOp 'events' runs 5 steps.*4"):
        graph(SpikeSourceOp("events", 3, 5), layer("l0", 3, 2))
    with pytest.raises(
        ModelStructureError, match=r"\[batch, 4, 3\].*input_shape is \(3,\).*\(4, 3\)"
    ):
        graph(SpikeSourceOp("events", 3, T), layer("l0", 3, 2), input_shape=(3,))
