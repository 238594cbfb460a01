"""Every op of an artifact checked against its own tensors and its neighbours, before any op is
built or run.

The integrity checks of `format.py` prove a file is the one its writer stamped, not that the
writer was right: a manifest edited and re-stamped (or written by a buggy exporter) can pair
a [10, 16] weight with a declared width of 12, or a float where integers belong, and would
otherwise end in a raw numpy or torch error deep in a run. Here each op kind has one check
(`OP_CHECKS`, keyed by the manifest record's `type`; other kinds register theirs with
`op_check`) that reads its record and tensors, refuses what does not fit, and returns the
per-sample shape it emits, so the next op's input is checked against it (widths, channels,
steps). Every refusal is an `InconsistentArtifactError` naming the file, the op, the tensor
or field, what was found and what was expected.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from snapdeploy.artifact.format import REEXPORT_FIX
from snapdeploy.core.errors import InconsistentArtifactError, ParameterRangeError
from snapdeploy.core.graph import DENSE_OPS
from snapdeploy.core.neuron import check_range

Shape = tuple[int, ...]


@dataclass(frozen=True)
class OpView:
    """One op's manifest record and its own tensors (keys without the `<op>.` prefix)."""

    path: Path
    record: dict[str, Any]
    tensors: dict[str, np.ndarray]
    steps: int

    @property
    def name(self) -> str:
        return str(self.record.get("name"))

    def fail(
        self, what: str, found: Any, expected: Any, fix: str = REEXPORT_FIX
    ) -> InconsistentArtifactError:
        return InconsistentArtifactError(
            f"{self.path}: op '{self.name}' {what}: found {found}, expected {expected}; fix: {fix}"
        )

    def integer(self, key: str, low: int, high: int, source: dict[str, Any] | None = None) -> int:
        """A whole-number field of the record (or of `source`, e.g. its attrs) in [low, high]."""
        value = (self.record if source is None else source).get(key)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.fail(f"field '{key}'", repr(value), f"an integer in [{low}, {high}]")
        return value

    def number(
        self, key: str, low: float, high: float, source: dict[str, Any] | None = None
    ) -> float:
        """A finite real field in [low, high]."""
        value = (self.record if source is None else source).get(key)
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        if not ok or not low <= value <= high:
            raise self.fail(f"field '{key}'", repr(value), f"a finite number in [{low}, {high}]")
        return float(value)

    def tensor(self, key: str, shape: Shape, kind: str) -> np.ndarray:
        """Tensor `key`, of exactly `shape` (-1: any length) and dtype kind 'int' or 'float'."""
        if key not in self.tensors:
            raise self.fail(
                f"tensor '{key}'", "no such tensor", f"a {kind} tensor of shape {shape}"
            )
        array = self.tensors[key]
        wanted = np.integer if kind == "int" else np.floating
        if not np.issubdtype(array.dtype, wanted):
            raise self.fail(f"tensor '{key}' dtype", array.dtype, f"an {kind} dtype")
        if len(shape) != array.ndim or any(s not in (-1, d) for s, d in zip(shape, array.shape)):
            raise self.fail(f"tensor '{key}' shape", list(array.shape), list(shape))
        if kind == "float" and not np.all(np.isfinite(array)):
            raise self.fail(f"tensor '{key}'", "non-finite values", "finite values")
        return array

    def only_tensors(self, *allowed: str) -> None:
        extra = sorted(set(self.tensors) - set(allowed))
        if extra:
            raise self.fail("tensors", extra, f"only {sorted(allowed)}")

    def takes(self, shape_in: Shape | None, expected: Shape, what: str = "input") -> None:
        """The previous op's output (None: not known here, a partition's first op) fits."""
        if shape_in is not None and tuple(shape_in) != tuple(expected):
            raise self.fail(
                what,
                f"{list(shape_in)} from the op before it",
                list(expected),
                "make their sizes agree",
            )


OpCheck = Callable[[OpView, Shape | None], Shape | None]
#: One check per manifest record type: refuse what does not fit, return the per-sample shape
#: emitted (None where it depends on an input shape not known here).
OP_CHECKS: dict[str, OpCheck] = {}


def op_check(kind: str) -> Callable[[OpCheck], OpCheck]:
    """Register the check of record type `kind` (an op kind added elsewhere registers its own)."""

    def register(check: OpCheck) -> OpCheck:
        OP_CHECKS[kind] = check
        return check

    return register


def spikes_in(view: OpView, shape_in: Shape | None, n: int) -> None:
    view.takes(shape_in, (n,), f"input ({n} spike channels)")


@op_check("spiking")
def _spiking(view: OpView, shape_in: Shape | None) -> Shape:
    n_in = view.integer("n_in", 1, 1 << 20)
    n_out = view.integer("n_out", 1, 1 << 20)
    view.only_tensors("weights", "bias_mant", "delays")  # delays: LifLayerParams.validate
    arrays = {
        "weights": view.tensor("weights", (n_out, n_in), "int"),
        "bias_mant": view.tensor("bias_mant", (n_out,), "int"),
    }
    scalars = ("weight_exp", "du", "dv", "vth", "bias_exp")
    values = arrays | {key: view.integer(key, -(1 << 31), 1 << 31) for key in scalars}
    for key, value in values.items():
        try:
            check_range(view.name, key, value)
        except ParameterRangeError as exc:
            raise view.fail(
                key, str(exc).partition(": ")[2].partition(";")[0], "Loihi's width"
            ) from exc
    spikes_in(view, shape_in, n_in)
    return (n_out,)


@op_check("spiking_conv")
def _spiking_conv(view: OpView, shape_in: Shape | None) -> Shape:
    """A conv or sum-pool layer (core.conv): its fields' types, its tensors' shapes and its
    input; the geometry and ranges are checked where the layer is built (`validate`)."""
    n_in = view.integer("n_in", 1, 1 << 24)
    n_out = view.integer("n_out", 1, 1 << 24)
    shape = view.record.get("input_shape")
    if not (isinstance(shape, list) and len(shape) == 3 and math.prod(shape) == n_in):
        raise view.fail("field 'input_shape'", repr(shape), f"(x, y, channel) of {n_in} inputs")
    for key in ("du", "dv", "vth", "bias_exp"):
        view.integer(key, -(1 << 31), 1 << 31)
    view.tensor("bias_mant", (n_out,), "int")
    if view.record.get("synapse") == "conv":
        view.only_tensors("weights", "bias_mant")
        view.tensor("weights", (-1, -1, -1, -1), "int")
    else:
        view.only_tensors("bias_mant")
    spikes_in(view, shape_in, n_in)
    return (n_out,)


@op_check("encoder")
def _encoder(view: OpView, shape_in: Shape | None) -> Shape:
    view.only_tensors()
    n = view.integer("n", 1, 1 << 24)
    view.integer("steps", view.steps, view.steps)
    view.number("threshold", 1e-30, math.inf)
    view.number("dv", 0.0, 4095 / 4096)
    if "values" in view.record:
        view.integer("values", 1, n)
    view.takes(shape_in, (n,), f"input (a dense activation of {n} values)")
    image_dims(view, n)
    return (n,)


@op_check("spike_source")
def _spike_source(view: OpView, shape_in: Shape | None) -> Shape:
    view.only_tensors()
    n = view.integer("n", 1, 1 << 24)
    steps = view.integer("steps", view.steps, view.steps)
    view.takes(shape_in, (steps, n), "input shape (the model's spike input [steps, n])")
    image_dims(view, n)
    return (n,)


def image_dims(view: OpView, n: int) -> None:
    """An optional `channels_first` [C, H, W]: images taken in that order and handed on
    channels-last (an image spike source's input, an image encoder's spikes)."""
    if "channels_first" not in view.record:
        return
    dims = view.record["channels_first"]
    fits = isinstance(dims, list) and len(dims) == 3
    fits = fits and all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in dims)
    if not fits or math.prod(dims) != n:
        raise view.fail("field 'channels_first'", repr(dims), f"the images' [C, H, W], product {n}")


@op_check("decoder")
def _decoder(view: OpView, shape_in: Shape | None) -> Shape:
    view.only_tensors("scale")
    n = view.integer("n", 1, 1 << 24)
    view.tensor("scale", (n,), "float")
    spikes_in(view, shape_in, n)
    return (n,)


@op_check("dense")
def _dense(view: OpView, shape_in: Shape | None) -> Shape | None:
    op = view.record.get("op")
    if op not in DENSE_OPS:
        raise view.fail("field 'op'", repr(op), f"one of {', '.join(DENSE_OPS)}")
    attrs = view.record.get("attrs")
    if not isinstance(attrs, dict):
        raise view.fail("field 'attrs'", repr(attrs), "an object")
    return DENSE_SHAPES[op](view, attrs, shape_in)


def _weights(view: OpView, attrs: dict[str, Any], ndim: int) -> tuple[np.ndarray, int]:
    """A linear or conv op's integer weights within its declared bits, scale and bias."""
    view.only_tensors("weight", "weight_scale", "bias")
    bits = view.integer("bits", 2, 16, attrs)
    weight = view.tensor("weight", (-1,) * ndim, "int")
    n_out = weight.shape[0]
    if weight.size:
        low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        seen = (int(weight.min()), int(weight.max()))
        if seen[0] < low or seen[1] > high:
            raise view.fail("tensor 'weight' range", list(seen), f"[{low}, {high}] ({bits} bits)")
    scale = view.tensor("weight_scale", (n_out,), "float")
    if np.any(scale <= 0):
        raise view.fail("tensor 'weight_scale'", "a scale <= 0", "positive scales")
    if "bias" in view.tensors:
        view.tensor("bias", (n_out,), "float")
    declared = view.record.get("bit_widths")
    if declared != {"weight": bits}:
        raise view.fail("field 'bit_widths'", declared, {"weight": bits})
    return weight, n_out


def _linear(view: OpView, attrs: dict[str, Any], shape_in: Shape | None) -> Shape | None:
    weight, n_out = _weights(view, attrs, 2)
    if shape_in is None:
        return None
    view.takes(shape_in[-1:], weight.shape[1:], "input features")
    return (*shape_in[:-1], n_out)


def _pair(
    view: OpView, attrs: dict[str, Any], key: str, low: int, single: bool = False
) -> tuple[int, int]:
    """A [height, width] attribute (or, with `single`, one int for both, as torch's pools take)."""
    value = attrs.get(key)
    one = single and isinstance(value, int) and not isinstance(value, bool)
    pair = [value, value] if one else value
    if (
        not isinstance(pair, list | tuple)
        or len(pair) != 2
        or not all(
            isinstance(v, int) and not isinstance(v, bool) and low <= v <= 1 << 16 for v in pair
        )
    ):
        form = (
            f"an integer >= {low} or a pair of them" if single else f"a pair of integers >= {low}"
        )
        raise view.fail(f"attribute '{key}'", repr(value), form)
    return int(pair[0]), int(pair[1])


def _spatial(view: OpView, shape_in: Shape, what: str) -> Shape:
    if len(shape_in) != 3:
        raise view.fail(
            "input",
            f"{list(shape_in)} from the op before it",
            f"[channels, height, width] for a {what}",
        )
    return shape_in


def _window(
    view: OpView, size: int, kernel: int, stride: int, pad: int, dilation: int, axis: str
) -> int:
    out = (size + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1
    if out < 1:
        raise view.fail(f"output {axis}", out, "at least 1 (the input is smaller than the window)")
    return out


def _conv2d(view: OpView, attrs: dict[str, Any], shape_in: Shape | None) -> Shape | None:
    weight, n_out = _weights(view, attrs, 4)
    groups = view.integer("groups", 1, 1 << 16, attrs)
    stride, padding, dilation = (
        _pair(view, attrs, k, low) for k, low in (("stride", 1), ("padding", 0), ("dilation", 1))
    )
    if n_out % groups:
        raise view.fail(
            "tensor 'weight' shape", f"{n_out} output channels", f"a multiple of groups={groups}"
        )
    if shape_in is None:
        return None
    channels, height, width = _spatial(view, shape_in, "conv2d")
    view.takes((channels,), (weight.shape[1] * groups,), "input channels")
    kh, kw = weight.shape[2:]
    return (
        n_out,
        _window(view, height, kh, stride[0], padding[0], dilation[0], "height"),
        _window(view, width, kw, stride[1], padding[1], dilation[1], "width"),
    )


def _pool(view: OpView, attrs: dict[str, Any], shape_in: Shape | None) -> Shape | None:
    view.only_tensors()
    kernel = _pair(view, attrs, "kernel_size", 1, single=True)
    stride = (
        _pair(view, attrs, "stride", 1, single=True) if attrs.get("stride") is not None else kernel
    )
    padding = _pair(view, attrs, "padding", 0, single=True)
    if any(2 * p > k for p, k in zip(padding, kernel)):
        raise view.fail(
            "attribute 'padding'", list(padding), f"at most half the kernel {list(kernel)}"
        )
    if shape_in is None:
        return None
    channels, height, width = _spatial(view, shape_in, view.record["op"])
    return (
        channels,
        _window(view, height, kernel[0], stride[0], padding[0], 1, "height"),
        _window(view, width, kernel[1], stride[1], padding[1], 1, "width"),
    )


def _flatten(view: OpView, attrs: dict[str, Any], shape_in: Shape | None) -> Shape | None:
    view.only_tensors()
    start = view.integer("start_dim", -8, 8, attrs)
    end = view.integer("end_dim", -8, 8, attrs)
    if shape_in is None:
        return None
    full = (1, *shape_in)  # torch flattens [batch, ...]
    first, last = (d % len(full) if -len(full) <= d < len(full) else None for d in (start, end))
    if first is None or last is None or first > last or first == 0:
        raise view.fail(
            "attributes start_dim/end_dim",
            [start, end],
            f"dims of the per-sample input {list(shape_in)} (not the batch)",
        )
    return (*full[1:first], math.prod(full[first : last + 1]), *full[last + 1 :])


def _elementwise(view: OpView, attrs: dict[str, Any], shape_in: Shape | None) -> Shape | None:
    view.only_tensors()
    if view.record["op"] == "quant_act":
        view.integer("bits", 2, 16, attrs)
        view.number("scale", 1e-30, math.inf, attrs)
        if not isinstance(attrs.get("signed"), bool):
            raise view.fail("attribute 'signed'", repr(attrs.get("signed")), "true or false")
    return shape_in


def _shape_attr(view: OpView, attrs: dict[str, Any], key: str) -> Shape:
    value = attrs.get(key)
    ok = isinstance(value, list) and all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in value
    )
    if not ok:
        raise view.fail(f"attribute '{key}'", repr(value), "a list of positive integers")
    return tuple(value)


def _program(view: OpView, attrs: dict[str, Any], shape_in: Shape | None) -> Shape:
    """A torch.export program (artifact/program.py): its JSON graph as uint8 bytes and plain
    tensors; its per-sample input and output shapes are recorded (the graph is not run here)."""
    view.tensor("graph", (-1,), "int")
    if view.tensors["graph"].dtype != np.uint8:
        raise view.fail("tensor 'graph' dtype", view.tensors["graph"].dtype, "uint8 (JSON bytes)")
    extra = [k for k in view.tensors if k != "graph" and k.split(".")[0] not in _PROGRAM_PARTS]
    if extra:
        raise view.fail("tensors", sorted(extra), f"'graph' and {', '.join(_PROGRAM_PARTS)}.*")
    view.takes(shape_in, _shape_attr(view, attrs, "input_shape"))
    return _shape_attr(view, attrs, "output_shape")


_PROGRAM_PARTS = ("param", "buffer", "const")


#: The shape each dense op computes from its input (and its own checks).
DENSE_SHAPES: dict[str, Callable[[OpView, dict[str, Any], Shape | None], Shape | None]] = {
    "linear": _linear,
    "conv2d": _conv2d,
    "relu": _elementwise,
    "quant_act": _elementwise,
    "flatten": _flatten,
    "maxpool2d": _pool,
    "avgpool2d": _pool,
    "program": _program,
}


def check_ops(
    path: Path,
    records: list[Any],
    tensors: dict[str, np.ndarray],
    steps: Any,
    shape_in: Shape | None,
) -> Shape | None:
    """Check each op record in order against its tensors and the shape the op before emits.

    `shape_in` is the first op's input (the model's input shape), or None for a partition,
    whose input is checked where the partitions meet. Returns the last op's output shape.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise InconsistentArtifactError(
            f"{path}: 'steps' is {steps!r}, expected a positive integer; fix: {REEXPORT_FIX}"
        )
    for index, record in enumerate(records):
        name = record.get("name", index) if isinstance(record, dict) else index
        listed = record.get("tensors") if isinstance(record, dict) else None
        if not isinstance(listed, list) or not all(isinstance(key, str) for key in listed):
            raise InconsistentArtifactError(
                f"{path}: op '{name}' field 'tensors': found {listed!r}, expected a list of "
                f"tensor names; fix: {REEXPORT_FIX}"
            )
        kind = record.get("type")
        if not isinstance(kind, str):
            raise InconsistentArtifactError(
                f"{path}: op '{name}' field 'type': found {kind!r}, expected one of "
                f"{', '.join(OP_CHECKS)}; fix: {REEXPORT_FIX}"
            )
        if kind not in OP_CHECKS:  # no check registered: reading the op refuses an unknown type
            shape_in = None
            continue
        keys = [f"{name}.{key}" for key in record["tensors"]]
        missing = [key for key in keys if key not in tensors]
        if missing:
            raise InconsistentArtifactError(
                f"{path}: op '{name}' lists tensors {missing}, which the file lacks; fix: {REEXPORT_FIX}"
            )
        own = {str(key): tensors[f"{name}.{key}"] for key in record["tensors"]}
        shape_in = OP_CHECKS[kind](OpView(path, record, own, steps), shape_in)
    return shape_in
