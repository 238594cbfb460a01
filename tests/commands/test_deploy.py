"""`snapdeploy deploy --emulate` runs an FPGA device on its C-simulation even where the target
names a bitstream (which `run` would look for on a board), and leaves the environment as it was."""

from __future__ import annotations

import os

import numpy as np
import pytest
from typer.testing import CliRunner

from snapdeploy.artifact.model import save_model
from snapdeploy.backends.base import EMULATE_ENV
from snapdeploy.cli import app
from snapdeploy.quant.export import export_model
from snapdeploy.targets import SHIPPED_TARGETS_DIR
from tests.models import hybrid_net

T = 3


def cli(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def fpga_build(tmp_path_factory):
    """A build whose spiking partition sits on an HLS device that names a bitstream."""
    net = hybrid_net([6, 4], T, n_in=5, n_out=2, seed=3, threshold=0.3, vth=0.2)
    root = tmp_path_factory.mktemp("deploy")
    np.save(root / "x.npy", np.random.default_rng(2).random((7, 5)).astype(np.float32))
    snap = save_model(root / "m.snap", export_model(net), {})
    text = (SHIPPED_TARGETS_DIR / "emulator.toml").read_text()
    target = root / "with-bitstream.toml"
    target.write_text(
        text.replace('board = "pynq-z2"\n', 'board = "pynq-z2"\nbitstream = "lif.bit"\n', 1)
    )
    builds = {}
    for device in ("fpga", "ref"):
        builds[device] = root / f"build-{device}"
        result = cli(
            "compile",
            snap,
            "--target",
            target,
            "-o",
            builds[device],
            "--map",
            f"p1_spiking={device}",
        )
        assert result.exit_code == 0, result.output
    return builds, root / "x.npy"


def test_deploy_emulate_runs_the_c_simulation_despite_a_bitstream(fpga_build, tmp_path) -> None:
    builds, inputs = fpga_build
    assert EMULATE_ENV not in os.environ
    result = cli("deploy", builds["fpga"], "--emulate", "--inputs", inputs, "-o", tmp_path / "hls")
    assert result.exit_code == 0, result.output
    assert EMULATE_ENV not in os.environ
    result = cli("deploy", builds["ref"], "--emulate", "--inputs", inputs, "-o", tmp_path / "ref")
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(
        np.load(tmp_path / "hls" / "outputs.npy"), np.load(tmp_path / "ref" / "outputs.npy")
    )


def test_run_without_emulate_looks_for_the_bitstream(fpga_build, tmp_path) -> None:
    builds, inputs = fpga_build
    result = cli("run", builds["fpga"], "--inputs", inputs, "-o", tmp_path / "run")
    assert result.exit_code == 1
    assert "no bitstream" in result.output and "--emulate" in result.output


def test_deploy_without_inputs_says_to_pass_them(fpga_build, tmp_path) -> None:
    builds, _ = fpga_build
    result = cli("deploy", builds["ref"], "--emulate", "-o", tmp_path / "run")
    assert result.exit_code == 1
    assert "no inputs given; fix: pass --inputs X.npy" in result.output
    assert "None" not in result.output
    missing = cli("deploy", builds["ref"], "--emulate", "--inputs", tmp_path / "x.npy")
    assert f"inputs file {tmp_path / 'x.npy'} not found" in " ".join(missing.output.split())
