"""The deployable model: an ordered list of integer-ready operations.

This is what the exporter produces, the artifact stores, and the partitioner cuts. It is
plain data (numpy and JSON-able attributes), so every backend can read it without torch.
Dense operations keep float scales (they run on torch); spiking layers are pure integers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from snapdeploy.core.conv import ConvLayerParams
from snapdeploy.core.errors import ModelStructureError
from snapdeploy.core.neuron import LifLayerParams

DENSE_OPS = (
    *("linear", "conv2d", "relu", "flatten", "maxpool2d", "avgpool2d", "quant_act"),
    "program",  # a die of an arbitrary model: a torch.export program (artifact/program.py)
)


@dataclass(frozen=True)
class DenseOp:
    """A dense layer: `op` is one of DENSE_OPS; weights as int values and per-channel scales.

    "quant_act" fake-quantizes an activation (attrs bits, scale, signed) as the QAT twin did,
    so the deployed model feeds an encoder the very values it was fine-tuned on.
    """

    name: str
    op: str
    attrs: dict[str, Any] = field(default_factory=dict)
    tensors: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class EncoderOp:
    """Turns a dense activation into spikes over `steps` (a float LIF run on the dense side).

    `values`: how many dense values per sample the spikes stand for, where that is not `n`
    (a die cut's crossing tensor: a signed cut codes each value as two spike channels). The
    fp16 and int8 baselines a link's spikes are priced against count these values.
    `channels_first` (C, H, W): the activation is an image in that order (NIR's) and the
    spikes come out channels-last, (H, W, C) flattened, for a conv layer (`nn.image_encoder`).
    """

    name: str
    n: int
    steps: int
    threshold: float
    dv: float
    values: int | None = None
    channels_first: tuple[int, int, int] | None = None

    def __post_init__(self) -> None:
        check_channels_first("encoder", self.name, self.channels_first, self.n)


@dataclass(frozen=True)
class SpikeSourceOp:
    """The model's input is already spikes (event data): [batch, steps, n] 0/1 values, passed
    through as [steps, batch, n]. Only ever the first op; nothing to quantize.

    `channels_first` (C, H, W): the input is images in that channel-first order (NIR's), and
    the source hands them on channels-last, (H, W, C) flattened, the order our conv layers
    take (`nn.image_source`); None: passed on as they come.
    """

    name: str
    n: int
    steps: int
    channels_first: tuple[int, int, int] | None = None

    def __post_init__(self) -> None:
        check_channels_first("spike source", self.name, self.channels_first, self.n)


def check_channels_first(kind: str, name: str, dims: tuple[int, ...] | None, n: int) -> None:
    """An image reorder's (C, H, W) must be three positive sizes whose product is `n`."""
    if dims is not None and (len(dims) != 3 or min(dims) < 1 or dims[0] * dims[1] * dims[2] != n):
        raise ModelStructureError(
            f"{kind} '{name}': channels_first {tuple(dims)} is not the (C, H, W) of its {n} "
            f"channels; fix: give three sizes whose product is {n}"
        )


@dataclass(frozen=True)
class SpikingOp:
    """One spiking layer with integer parameters (runs on a spiking backend): a Dense or
    DelayDense synapse (`LifLayerParams`) or a Conv or sum-pool one (`ConvLayerParams`)
    feeding LIF neurons; `params.kinds` names what a backend must support to run it."""

    name: str
    params: LifLayerParams | ConvLayerParams


@dataclass(frozen=True)
class DecoderOp:
    """Turns spike counts back into a dense activation: counts times a per-neuron scale."""

    name: str
    n: int
    scale: np.ndarray  # float32 [n]


Op = DenseOp | EncoderOp | SpikeSourceOp | SpikingOp | DecoderOp

#: The ops that start spikes on the dense side (a cut follows each): an encoder turns a dense
#: activation into spikes, a spike source passes the model's spike input through.
SPIKE_SOURCES = (EncoderOp, SpikeSourceOp)
#: Every op whose output is spikes.
SPIKE_EMITTERS = (*SPIKE_SOURCES, SpikingOp)

#: Which operation types may come directly before each one (None: the model's input).
ALLOWED_BEFORE: dict[type, tuple] = {
    DenseOp: (type(None), DenseOp, DecoderOp),
    EncoderOp: (type(None), DenseOp, DecoderOp),
    SpikeSourceOp: (type(None),),
    SpikingOp: SPIKE_EMITTERS,
    DecoderOp: SPIKE_EMITTERS,
}
FIX_BEFORE = {
    DenseOp: "put a SpikeDecoder between spikes and a dense layer",
    EncoderOp: "an encoder takes a dense activation; remove the extra encoder",
    SpikeSourceOp: "a SpikeSource is the model's spike input; put it first, and only once",
    SpikingOp: "put a SpikeEncoder (dense input) or a SpikeSource (spike input) before the "
    "first spiking layer",
    DecoderOp: "a decoder needs spikes before it: an encoder, a spike source or a spiking layer",
}


def output_width(op: Op) -> int | None:
    """How many spike channels an op emits (None for dense ops, whose shape varies)."""
    if isinstance(op, (*SPIKE_SOURCES, DecoderOp)):
        return op.n
    if isinstance(op, SpikingOp):
        return op.params.n_out
    return None


def input_width(op: Op) -> int | None:
    if isinstance(op, DecoderOp):
        return op.n
    if isinstance(op, SpikingOp):
        return op.params.n_in
    return None


def check_order(prev: Op | None, op: Op) -> None:
    """Refuse sequences no deployment can run, e.g. spikes fed straight into a dense layer."""
    if not isinstance(prev, ALLOWED_BEFORE[type(op)]):
        where = f"after '{prev.name}'" if prev is not None else "first"
        raise ModelStructureError(
            f"'{op.name}' ({type(op).__name__}) cannot come {where}; fix: {FIX_BEFORE[type(op)]}"
        )
    if isinstance(prev, SPIKE_EMITTERS):
        emitted, expected = output_width(prev), input_width(op)
        if expected is not None and emitted != expected:
            raise ModelStructureError(
                f"'{op.name}' expects {expected} spike channels but '{prev.name}' emits "
                f"{emitted}; fix: make their sizes agree"
            )


@dataclass(frozen=True)
class ModelGraph:
    """A hybrid model in execution order, with its input shape and time steps."""

    ops: tuple[Op, ...]
    input_shape: tuple[int, ...]
    steps: int

    def __post_init__(self) -> None:
        names = [op.name for op in self.ops]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ModelStructureError(
                f"operation names must be unique, repeated: {', '.join(dupes)}"
            )
        if not self.ops:
            raise ModelStructureError("the model has no layers; fix: add at least one block")
        for prev, op in zip((None, *self.ops), self.ops):
            check_order(prev, op)
            if isinstance(op, SPIKE_SOURCES) and op.steps != self.steps:
                raise ModelStructureError(
                    f"{type(op).__name__} '{op.name}' runs {op.steps} steps but the model runs "
                    f"{self.steps}; fix: give every encoder and spike source the model's "
                    f"number of steps"
                )
        first = self.ops[0]
        if isinstance(first, SpikeSourceOp) and self.input_shape != (first.steps, first.n):
            raise ModelStructureError(
                f"spike source '{first.name}' takes input [batch, {first.steps}, {first.n}] but "
                f"the model's input_shape is {self.input_shape}; fix: set input_shape=(steps, n)"
                f" = ({first.steps}, {first.n})"
            )

    def spiking_ops(self) -> list[SpikingOp]:
        return [op for op in self.ops if isinstance(op, SpikingOp)]
