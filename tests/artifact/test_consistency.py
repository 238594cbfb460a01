"""Every op of an artifact is checked against its tensors and neighbours before anything runs.

The fuzz takes a valid artifact that exercises every dense and spiking op kind, changes one
thing in its manifest or tensors, writes it again (so every integrity check passes: only
consistency can catch it), then loads, compiles and runs it. Whatever fails must fail as a
SnapdeployError that names an op or tensor; a raw numpy or torch error fails the test.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from snapdeploy.artifact import read_artifact, write_artifact
from snapdeploy.artifact.model import load_model, save_model
from snapdeploy.core.errors import ArtifactError, InconsistentArtifactError, SnapdeployError
from snapdeploy.core.graph import DecoderOp, DenseOp, EncoderOp, ModelGraph, SpikingOp
from snapdeploy.core.neuron import LifLayerParams
from snapdeploy.flow.deploy import compile_and_run
from snapdeploy.partition.place import spiking_on
from snapdeploy.targets import load_target

STEPS = 4
INPUT = (1, 6, 6)


def _dense(name: str, op: str, attrs: dict, weight_shape: tuple[int, ...] | None, rng) -> DenseOp:
    tensors = {}
    if weight_shape is not None:
        tensors = {
            "weight": rng.integers(-127, 128, weight_shape).astype(np.int32),
            "weight_scale": np.full(weight_shape[0], 0.02, np.float32),
            "bias": rng.normal(0, 0.1, weight_shape[0]).astype(np.float32),
        }
        attrs = {"bits": 8, **attrs}
    return DenseOp(name, op, attrs, tensors)


def _spiking(name: str, n_in: int, n_out: int, rng) -> SpikingOp:
    weights = 2 * rng.integers(-20, 21, (n_out, n_in))
    params = LifLayerParams(weights, 0, 400, 300, 20, np.zeros(n_out, np.int64), 0)
    return SpikingOp(name, params)


def model_graph() -> ModelGraph:
    """conv -> relu -> maxpool -> flatten -> linear -> quant_act -> encoder -> 2 spiking
    layers -> decoder -> linear: one op of every kind a neighbour check joins."""
    rng = np.random.default_rng(0)
    conv = {"stride": [1, 1], "padding": [0, 0], "dilation": [1, 1], "groups": 1}
    ops = (
        _dense("conv", "conv2d", conv, (3, 1, 3, 3), rng),
        _dense("relu", "relu", {}, None, rng),
        _dense("pool", "maxpool2d", {"kernel_size": 2, "stride": 2, "padding": 0}, None, rng),
        _dense("flat", "flatten", {"start_dim": 1, "end_dim": -1}, None, rng),
        _dense("fc1", "linear", {}, (8, 12), rng),
        _dense("act", "quant_act", {"bits": 8, "scale": 0.05, "signed": False}, None, rng),
        EncoderOp("enc", 8, STEPS, 0.5, 0.0),
        _spiking("lif1", 8, 6, rng),
        _spiking("lif2", 6, 5, rng),
        DecoderOp("dec", 5, np.full(5, 0.5, np.float32)),
        _dense("fc2", "linear", {}, (3, 5), rng),
    )
    return ModelGraph(ops, INPUT, STEPS)


GRAPH = model_graph()
NAMES = [op.name for op in GRAPH.ops]


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict]:
    path = save_model(tmp_path_factory.mktemp("base") / "m.snap", GRAPH, {})
    artifact = read_artifact(path)
    return artifact.manifest["graph"], artifact.tensors


def rewritten(path: Path, graph: dict[str, Any], tensors: dict[str, np.ndarray]) -> Path:
    """The changed artifact, written (and so stamped) as a valid file."""
    return write_artifact(path, {"graph": graph}, tensors)


def run(path: Path, out: Path) -> None:
    graph, _ = load_model(path)
    target = load_target("emulator")
    device = target.devices_of_kind("reference")[0].name
    x = np.random.default_rng(1).normal(0, 1, (3, *graph.input_shape)).astype(np.float32)
    compile_and_run(graph, target, out, x, spiking_on(device), progress=False)


def test_the_unchanged_artifact_runs(stored, tmp_path: Path) -> None:
    run(rewritten(tmp_path / "m.snap", *stored), tmp_path / "build")


def changed(stored, change) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    graph = json.loads(json.dumps(stored[0]))
    tensors = dict(stored[1])
    change({op["name"]: op for op in graph["ops"]}, tensors, graph)
    return graph, tensors


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda ops, t, g: t.update({"lif1.weights": t["lif1.weights"][:, :-1]}),
            r"op 'lif1' tensor 'weights' shape: found \[6, 7\], expected \[6, 8\]",
        ),
        (
            lambda ops, t, g: ops["lif2"].update(n_in=5),
            r"op 'lif2' tensor 'weights' shape: found \[5, 6\], expected \[5, 5\]",
        ),
        (
            lambda ops, t, g: ops["enc"].update(n=7),
            r"op 'enc' input \(a dense activation of 7 values\): found \[8\]",
        ),
        (
            lambda ops, t, g: t.update({"fc1.weight": t["fc1.weight"].astype(np.float32)}),
            r"op 'fc1' tensor 'weight' dtype: found float32, expected an int dtype",
        ),
        (
            lambda ops, t, g: t.update({"fc1.weight": t["fc1.weight"][:, :-2]}),
            r"op 'fc1' input features: found \[12\] from the op before it, expected \[10\]",
        ),
        (
            lambda ops, t, g: ops["conv"]["attrs"].update(bits=4),
            r"op 'conv' tensor 'weight' range: found \[-?\d+, \d+\], expected \[-8, 7\] \(4 bits\)",
        ),
        (
            lambda ops, t, g: ops["pool"]["attrs"].update(kernel_size=5),
            r"op 'pool' output height: found 0",
        ),
        (
            lambda ops, t, g: g.update(input_shape=[2, 6, 6]),
            r"op 'conv' input channels: found \[2\] from the op before it, expected \[1\]",
        ),
        (
            lambda ops, t, g: ops["enc"].update(steps=STEPS + 1),
            rf"op 'enc' field 'steps': found {STEPS + 1}, expected an integer in \[{STEPS}, ",
        ),
        (
            lambda ops, t, g: t.update({"dec.scale": t["dec.scale"][:4]}),
            r"op 'dec' tensor 'scale' shape: found \[4\], expected \[5\]",
        ),
        (
            lambda ops, t, g: t.update({"lif1.weights": t["lif1.weights"] * 40}),
            r"op 'lif1' weights: found weights spans \[-?\d+, \d+\] .*expected Loihi's width",
        ),
    ],
)
def test_each_mismatch_names_the_op_the_tensor_found_and_expected(
    stored, tmp_path: Path, change, message: str
) -> None:
    path = rewritten(tmp_path / "m.snap", *changed(stored, change))
    with pytest.raises(InconsistentArtifactError, match=message):
        load_model(path)


NUMBERS = st.one_of(
    st.integers(-3, 40), st.floats(allow_nan=False, allow_infinity=False), st.booleans()
)
VALUES = st.one_of(
    NUMBERS, st.none(), st.text(max_size=3), st.lists(st.integers(-2, 9), max_size=5)
)


@st.composite
def mutation(draw):
    """One change: a record field, an attribute, a tensor's shape, dtype or values, or the
    graph's input shape or steps; returned as a function of (ops, tensors, graph)."""
    what = draw(st.sampled_from(["field", "attr", "shape", "dtype", "values", "graph"]))
    op = draw(st.sampled_from(NAMES))
    value = draw(VALUES)
    pick = draw(st.integers(0, 1 << 16))

    def change(ops, tensors, graph) -> None:
        record = ops[op]
        own = sorted(key for key in tensors if key.startswith(f"{op}."))
        if what == "field":
            keys = sorted(set(record) - {"name"})
            record[keys[pick % len(keys)]] = value
        elif what == "attr":
            attrs = record.get("attrs")
            assume(isinstance(attrs, dict) and attrs)
            keys = sorted(attrs)
            attrs[keys[pick % len(keys)]] = value
        elif what == "graph":
            graph[["input_shape", "steps"][pick % 2]] = value
        else:
            assume(own)
            key = own[pick % len(own)]
            array = tensors[key]
            if what == "shape":
                shapes = [array[..., :-1], array[:-1], array.reshape(-1), array[None], array.T]
                tensors[key] = np.ascontiguousarray(shapes[pick % len(shapes)])
            elif what == "dtype":
                dtypes = [np.float32, np.int8, np.bool_, np.int64, np.float16]
                tensors[key] = array.astype(dtypes[pick % len(dtypes)])
            else:
                factor = [1000, -1, 0, 1e9][pick % 4]
                values = (
                    array * factor if array.dtype.kind == "f" else array * int(min(factor, 1e6))
                )
                tensors[key] = values.astype(array.dtype)

    return change


@settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(change=mutation())
def test_fuzz_every_failure_is_named(stored, tmp_path: Path, change) -> None:
    graph, tensors = changed(stored, change)
    try:
        path = rewritten(tmp_path / "m.snap", graph, tensors)
    except ArtifactError:
        assume(False)  # the writer refuses it (not JSON, say): nothing to read
    try:
        run(path, tmp_path / "build")
    except SnapdeployError as exc:
        message = str(exc)
        named = [name for name in NAMES if f"'{name}'" in message or f"'{name}." in message]
        assert named or "input_shape" in message or "'steps'" in message, message
