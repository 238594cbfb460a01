"""`snapdeploy train` + `snapdeploy quantize` and `tools/qat_finetune.py` on a user's pickled
HybridNet with their own data: the artifact verifies, its manifest records the float, QAT and
integer-reference accuracies, and bad inputs end in one line naming the file and the fix."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from snapdeploy.artifact.model import load_model
from snapdeploy.cli import app
from snapdeploy.nn.demo_net import DemoNet, demo_model
from snapdeploy.nn.train import fit

ROOT = Path(__file__).resolve().parents[2]


def invoke(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


def assert_one_line_error(result, *names: str) -> None:
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    for name in (*names, "fix:"):
        assert name in result.output


def test_train_then_quantize_records_every_accuracy(tmp_path: Path) -> None:
    model = tmp_path / "model.pt"
    trained = invoke("train", "-o", model, "--epochs", 1, "--steps", 3)
    assert trained.exit_code == 0, trained.output
    out = tmp_path / "model.snap"
    result = invoke("quantize", model, "--bits", 4, "--dense-bits", 6, "--epochs", 1, "-o", out)
    assert result.exit_code == 0, result.output
    graph, artifact = load_model(out)
    manifest = artifact.manifest
    assert (
        manifest["quantization"]["weight_bits"] == 4 and manifest["quantization"]["dense_bits"] == 6
    )
    assert manifest["held_out_samples"] == 450
    for key in ("float_accuracy", "qat_accuracy", "integer_accuracy"):
        assert 0.0 <= manifest[key] <= 1.0
    assert abs(manifest["qat_accuracy"] - manifest["integer_accuracy"]) <= 2 / 450
    assert graph.steps == 3 and (tmp_path / "model.snap.ckpt").is_file()


@pytest.fixture
def user_files(tmp_path: Path) -> tuple[Path, Path]:
    """A user's own tiny HybridNet (pickled whole) and data in an .npz."""
    rng = np.random.default_rng(0)
    x = rng.random((80, 64), dtype=np.float32)
    y = (x[:, :32].sum(axis=1) > x[:, 32:].sum(axis=1)).astype(np.int64)
    model = demo_model(DemoNet(steps=3, hidden=16, spiking=8))
    fit(model, x[:60], y[:60], epochs=2, progress=False)
    torch.save(model, tmp_path / "mine.pt")
    np.savez(tmp_path / "data.npz", x_train=x[:60], y_train=y[:60], x_test=x[60:], y_test=y[60:])
    return tmp_path / "mine.pt", tmp_path / "data.npz"


def test_tool_fine_tunes_a_users_model_on_their_data(user_files, tmp_path: Path) -> None:
    model, data = user_files
    out = tmp_path / "mine.snap"
    run = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tools" / "qat_finetune.py"),
            str(model),
            "--data",
            str(data),
            "--bits",
            "6",
            "--epochs",
            "2",
            "--power-of-two",
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    _, artifact = load_model(out)
    assert artifact.manifest["held_out_samples"] == 20
    assert artifact.manifest["quantization"]["power_of_two"] is True


def test_missing_model_file_is_one_line(tmp_path: Path) -> None:
    assert_one_line_error(
        invoke("quantize", tmp_path / "nope.pt", "-o", tmp_path / "m.snap"), "nope.pt"
    )
    assert not (tmp_path / "m.snap").exists()


def test_a_file_that_is_no_model_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "junk.pt").write_bytes(b"junk")
    assert_one_line_error(invoke("quantize", tmp_path / "junk.pt"), "junk.pt")


def test_data_of_the_wrong_shape_is_refused(user_files, tmp_path: Path) -> None:
    model, _ = user_files
    np.savez(
        tmp_path / "bad.npz",
        x_train=np.zeros((4, 5)),
        y_train=np.zeros(4),
        x_test=np.zeros((2, 5)),
        y_test=np.zeros(2),
    )
    result = invoke("quantize", model, "--data", tmp_path / "bad.npz", "-o", tmp_path / "m.snap")
    assert_one_line_error(result, "(64,)", "(5,)", "--data")


def test_bits_outside_lavas_range_are_refused(user_files) -> None:
    model, data = user_files
    assert_one_line_error(invoke("quantize", model, "--data", data, "--bits", 9), "weight_bits=9")
