"""Ranks over torch.distributed (gloo, 127.0.0.1) give the in-process outputs; a rank killed
mid-run ends the run with a named error and a resumable state; `--resume` finishes it with
identical outputs. Every launcher runs in its own session, killed as a group in teardown."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from snapdeploy.compile import compile_graph
from snapdeploy.quant.export import export_model
from snapdeploy.runtime import Deployment
from snapdeploy.runtime.launch import RANKS_FILE
from snapdeploy.runtime.state import FINAL_FILE, OUTPUTS_DIR
from snapdeploy.targets import load_target
from tests.models import hybrid_net

T = 4
CLI = [sys.executable, "-c", "from snapdeploy.cli import app; app()"]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A dense -> spiking -> dense model compiled for the emulator, and its inputs."""
    root = tmp_path_factory.mktemp("dist")
    model = hybrid_net([10, 8], T, n_in=12, n_out=3, threshold=0.5, vth=0.3, gain=3)
    build, _ = compile_graph(export_model(model), load_target("emulator"), root / "build")
    x = np.random.default_rng(0).random((240, 12)).astype(np.float32)
    np.save(root / "x.npy", x)
    return root, build, x


@pytest.fixture
def launched():
    """Start CLI runs in their own sessions; kill every one's process group afterwards."""
    procs: list[subprocess.Popen] = []

    def start(*args: str) -> subprocess.Popen:
        proc = subprocess.Popen(
            [*CLI, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()


def in_process(build, x, batch_size):
    with Deployment.load(build) as deployment:
        return deployment.run(x, batch_size=batch_size, progress=False).outputs


def finish(proc: subprocess.Popen) -> tuple[int, str]:
    _, err = proc.communicate(timeout=240)
    return proc.returncode, err


def test_three_ranks_give_the_in_process_outputs(built, launched, tmp_path):
    root, build, x = built
    proc = launched(
        "run",
        str(build),
        "--inputs",
        str(root / "x.npy"),
        "--out",
        str(tmp_path),
        "--ranks",
        "3",
        "--batch-size",
        "64",
        "--timeout",
        "60",
    )
    code, err = finish(proc)
    assert code == 0, err
    np.testing.assert_array_equal(np.load(tmp_path / FINAL_FILE), in_process(build, x, 64))
    result = json.loads((tmp_path / "result.json").read_text())
    assert [b["samples"] for b in result["boundaries"]] == [len(x), len(x)]
    assert all(b["wire_bytes"] > 0 for b in result["boundaries"])


def test_a_killed_rank_is_named_and_the_run_resumes_to_identical_outputs(built, launched, tmp_path):
    root, build, x = built
    args = [
        "run",
        str(build),
        "--inputs",
        str(root / "x.npy"),
        "--out",
        str(tmp_path),
        "--ranks",
        "3",
        "--batch-size",
        "1",
        "--timeout",
        "20",
    ]
    proc = launched(*args)
    outputs = tmp_path / OUTPUTS_DIR
    while proc.poll() is None and len(list(outputs.glob("*.npy"))) < 3:
        time.sleep(0.01)
    assert proc.poll() is None, "the run ended before a rank could be killed"
    pids = json.loads((tmp_path / RANKS_FILE).read_text())["pids"]
    os.kill(pids["1"], signal.SIGKILL)

    code, err = finish(proc)
    done = len(list(outputs.glob("*.npy")))
    assert code == 1
    assert "rank 1 (device 'ref' (p1_spiking)) was killed by signal SIGKILL" in err
    assert "--resume" in err and "completed batches are kept" in err
    assert 3 <= done < len(x)
    assert not (tmp_path / FINAL_FILE).exists()

    code, err = finish(launched(*args, "--resume"))
    assert code == 0, err
    np.testing.assert_array_equal(np.load(tmp_path / FINAL_FILE), in_process(build, x, 1))
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["boundaries"][0]["samples"] == len(x) - done  # only the rest was run


def test_a_wrong_number_of_ranks_is_refused(built, launched, tmp_path):
    root, build, _ = built
    code, err = finish(
        launched(
            "run",
            str(build),
            "--inputs",
            str(root / "x.npy"),
            "--out",
            str(tmp_path),
            "--rank",
            "0",
            "--world",
            "2",
            "--master",
            "127.0.0.1:1",
        )
    )
    assert code == 1
    assert "3 device groups" in err and "--ranks 3" in err
