"""`snapdeploy compile`, `run` and `deploy` on one small model: a build with a plan, a run
directory with outputs equal to the in-process runtime, and modes refused naming the device."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from snapdeploy.artifact.model import save_model
from snapdeploy.cli import app
from snapdeploy.quant.export import export_model
from snapdeploy.runtime import Deployment
from tests.models import hybrid_net

T = 3


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    net = hybrid_net([6, 4], T, n_in=5, n_out=2, seed=6, threshold=0.3, vth=0.2)
    root = tmp_path_factory.mktemp("cmd")
    np.save(root / "x.npy", np.random.default_rng(1).random((9, 5)).astype(np.float32))
    return save_model(root / "m.snap", export_model(net), {}), root


def cli(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_compile_run_and_deploy(model_file, tmp_path):
    snap, root = model_file
    build = tmp_path / "build"
    result = cli("compile", snap, "--target", "emulator", "-o", build, "--map", "p1_spiking=ref")
    assert result.exit_code == 0, result.output
    plan = json.loads((build / "plan.json").read_text())
    assert [p["device"] for p in plan["placements"]] == ["host", "ref", "host"]
    assert all("estimated_bytes_per_step" in b for b in plan["boundaries"])

    result = cli(
        "run", build, "--inputs", root / "x.npy", "-o", tmp_path / "run", "--batch-size", 4
    )
    assert result.exit_code == 0, result.output
    with Deployment.load(build) as deployment:
        expected = deployment.run(np.load(root / "x.npy"), 4, progress=False).outputs
    np.testing.assert_array_equal(np.load(tmp_path / "run" / "outputs.npy"), expected)

    result = cli("deploy", build, "--emulate", "--inputs", root / "x.npy", "-o", tmp_path / "dep")
    assert result.exit_code == 0, result.output
    result = cli("deploy", build, "--board", "--inputs", root / "x.npy", "-o", tmp_path / "b")
    assert result.exit_code == 1
    assert "--board: device 'ref'" in result.output and "--emulate" in result.output


def test_compile_refuses_a_bad_mapping_and_leaves_no_build(model_file, tmp_path):
    snap, _ = model_file
    result = cli("compile", snap, "-o", tmp_path / "build", "--map", "p1_spiking=host")
    assert result.exit_code == 1
    assert "p1_spiking" in result.output and "fix:" in result.output
    assert not (tmp_path / "build").exists()
