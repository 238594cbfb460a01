"""A GPT-style model cut into three dies, compiled for the shipped three-die target: one die
per rank over torch.distributed gives the in-process outputs, and the report prices each die
at its own MAC energy and each link at its class's constants."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from snapdeploy.compile import compile_graph
from snapdeploy.nn import snap_cut
from snapdeploy.quant.cut_export import export_cut
from snapdeploy.report.constants import load_constants
from snapdeploy.report.counts import measure
from snapdeploy.report.energy import estimate
from snapdeploy.runtime import Deployment
from snapdeploy.runtime.state import FINAL_FILE
from snapdeploy.targets import load_target
from tests.cut_models import tiny_gpt

CLI = [sys.executable, "-c", "from snapdeploy.cli import app; app()"]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("dies")
    tokens = torch.randint(0, 32, (12, 8))
    net = snap_cut(tiny_gpt(layers=3), cuts=[2, "block2"], steps=3, example=tokens)
    target = load_target("snap-3die")
    graph = export_cut(net, tokens)
    build, plan = compile_graph(graph, target, root / "build", lambda _: target.mapping)
    np.save(root / "x.npy", tokens.numpy())
    return root, build, plan, tokens.numpy()


def test_each_partition_is_on_its_own_die(built):
    _, _, plan, _ = built
    assert [p.device for p in plan.placements] == ["die0", "die1", "die2"]


def test_three_ranks_give_the_in_process_outputs(built, tmp_path):
    root, build, _, x = built
    with Deployment.load(build) as deployment:
        expected = deployment.run(x, batch_size=4, progress=False).outputs
    args = ["run", str(build), "--inputs", str(root / "x.npy"), "--out", str(tmp_path)]
    args += ["--ranks", "3", "--batch-size", "4", "--timeout", "60"]
    done = subprocess.run([*CLI, *args], check=False, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    assert np.array_equal(np.load(tmp_path / FINAL_FILE), expected)


def test_each_die_and_link_is_priced_from_the_target(built):
    _, build, _, x = built
    target = load_target("snap-3die")
    with Deployment.load(build) as deployment:
        result = deployment.run(x, batch_size=4, progress=False)
    work, traffic = measure(build, result.boundaries, target)
    priced = estimate(work, traffic, target, load_constants())
    assert all(w.macs > 0 for w in work)
    for device, w in zip(priced["devices"], work):
        assert "1.5 pJ/MAC (die)" in device["basis"]
        assert device["latency_ns"] >= w.macs / 1000.0
    ucie = load_constants().value("ucie_advanced_pj_per_bit")
    for link, t in zip(priced["links"], traffic):
        assert link["spikes"]["energy_pj"] == pytest.approx(8 * t.wire_bytes / len(x) * ucie)
