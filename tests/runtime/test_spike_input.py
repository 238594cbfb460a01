"""A model whose input is already spikes, deployed: exported, saved and loaded as .snap, compiled
for the emulator target and run through the runtime, its spikes equal the integer reference's
fed the same input spikes, step for step, on every spiking backend; `snapdeploy compile`, `run`
and `deploy` take an inputs.npy of [N, T, n] 0/1 values and refuse anything else by name."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from typer.testing import CliRunner

from snapdeploy.artifact.model import load_model, save_model
from snapdeploy.cli import app
from snapdeploy.compile import compile_graph
from snapdeploy.core.errors import SpikeInputError
from snapdeploy.core.graph import SpikeSourceOp, SpikingOp
from snapdeploy.partition.place import spiking_on
from snapdeploy.quant.export import export_model
from snapdeploy.runtime import Deployment
from snapdeploy.targets import load_target
from tests.models import Recording, hybrid_net, reference_spikes
from tests.strategies import random_spikes, spike_inputs

T, N_IN = 8, 10
WIDTHS = [N_IN, 12, 5]


@pytest.fixture(scope="module")
def snap(tmp_path_factory):
    """The spike-input model exported and written as a .snap; its inputs."""
    net = hybrid_net(WIDTHS, T, spike_input=True, decode=False, vth=0.3, gain=3.0, seed=2)
    root = tmp_path_factory.mktemp("spike-input")
    path = save_model(root / "events.snap", export_model(net), {})
    np.save(root / "x.npy", random_spikes((13, T, N_IN), 0.4, seed=5))
    return path, root


@pytest.fixture(scope="module")
def build(snap):
    path, root = snap
    graph, _ = load_model(path)
    return graph, compile_graph(graph, load_target("emulator"), root / "build")[0]


def test_the_artifact_keeps_the_spike_source(snap):
    graph, artifact = load_model(snap[0])
    assert [type(op) for op in graph.ops] == [SpikeSourceOp, SpikingOp, SpikingOp]
    assert graph.input_shape == (T, N_IN)
    assert artifact.manifest["graph"]["ops"][0]["type"] == "spike_source"


def test_deployed_spikes_equal_the_integer_reference_step_for_step(snap, build):
    graph, build_dir = build
    x = np.load(snap[1] / "x.npy")
    with Deployment.load(build_dir) as deployment:
        assert [c.kind for c in deployment.compiled] == ["torch", "reference"]
        recorders = [Recording(e) for e in deployment.executors]
        deployment.executors = recorders
        result = deployment.run(x, batch_size=5, progress=False)
    expected = reference_spikes(graph, x.transpose(1, 0, 2))
    assert expected.any(), "the test needs output spikes"
    # the spiking partition gets the input's spikes one step at a time, time-major
    batches = range(0, len(x), 5)
    entering = [
        np.concatenate(recorders[1].inputs[i * T : (i + 1) * T]) for i in range(len(batches))
    ]
    np.testing.assert_array_equal(np.concatenate(entering, axis=1), x.transpose(1, 0, 2))
    leaving = [
        np.concatenate(recorders[1].outputs[i * T : (i + 1) * T]) for i in range(len(batches))
    ]
    np.testing.assert_array_equal(np.concatenate(leaving, axis=1), expected)
    np.testing.assert_array_equal(result.outputs, expected.sum(0))
    (boundary,) = result.boundaries
    assert boundary.spikes == int(x.sum())


@pytest.mark.parametrize("device", ["ref", "lava", "fpga", "manycore"])
def test_every_spiking_backend_runs_the_spiking_partition_unchanged(build, snap, device, tmp_path):
    graph, _ = build
    x = np.load(snap[1] / "x.npy")[:4]
    out, _ = compile_graph(graph, load_target("emulator"), tmp_path / "b", spiking_on(device))
    with Deployment.load(out) as deployment:
        outputs = deployment.run(x, progress=False).outputs
    np.testing.assert_array_equal(outputs, reference_spikes(graph, x.transpose(1, 0, 2)).sum(0))


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(x=spike_inputs(T, N_IN))
def test_any_spike_input_runs_as_the_reference(build, x):
    graph, build_dir = build
    with Deployment.load(build_dir) as deployment:
        outputs = deployment.run(x, batch_size=3, progress=False).outputs
    np.testing.assert_array_equal(outputs, reference_spikes(graph, x.transpose(1, 0, 2)).sum(0))


def test_non_binary_or_misshapen_inputs_are_refused_by_name(build):
    _, build_dir = build
    with Deployment.load(build_dir) as deployment:
        with pytest.raises(SpikeInputError, match="not 0 or 1.*fix:"):
            deployment.run(np.full((2, T, N_IN), 0.5, np.float32), progress=False)
        with pytest.raises(SpikeInputError, match=rf"\[batch, {T}, {N_IN}\].*fix:"):
            deployment.run(np.zeros((2, N_IN, T), np.float32), progress=False)


def cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_compile_run_and_deploy_take_spike_inputs(snap, tmp_path):
    path, root = snap
    build_dir = tmp_path / "build"
    assert cli("compile", path, "--target", "emulator", "-o", build_dir).exit_code == 0
    graph, _ = load_model(path)
    x = np.load(root / "x.npy")
    expected = reference_spikes(graph, x.transpose(1, 0, 2)).sum(0)
    for command in (["run"], ["deploy", "--emulate"]):
        out = tmp_path / command[0]
        result = cli(*command, build_dir, "--inputs", root / "x.npy", "-o", out, "--batch-size", 4)
        assert result.exit_code == 0, result.output
        np.testing.assert_array_equal(np.load(out / "outputs.npy"), expected)
    np.save(tmp_path / "dense.npy", np.random.default_rng(0).random((3, T, N_IN)))
    result = cli("run", build_dir, "--inputs", tmp_path / "dense.npy", "-o", tmp_path / "bad")
    assert result.exit_code == 1
    assert "not 0 or 1" in result.output and "fix:" in result.output
