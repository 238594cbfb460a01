"""A small digits model deployed on the emulator once per session, laid out as the three
directories `snapdeploy report` reads: a demo output, a run directory and a bare build; with
the run's accuracies, result and plan for the tests that build reports themselves."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from snapdeploy.compile import compile_graph
from snapdeploy.data import digits
from snapdeploy.nn.demo_net import DemoNet, demo_model
from snapdeploy.nn.train import accuracy, fit, predict
from snapdeploy.partition.place import Plan
from snapdeploy.quant.export import export_model
from snapdeploy.report import build_report, write_report
from snapdeploy.runtime import Deployment, RunResult
from snapdeploy.targets import load_target

T = 4


@dataclass(frozen=True)
class Deployed:
    demo: Path  # report.json + build/
    run: Path  # run.json + result.json (+ outputs)
    build: Path  # a bare build, nothing run
    float_accuracy: float
    deployed_accuracy: float
    result: RunResult  # of the run in `run`
    plan: Plan


@pytest.fixture(scope="session")
def deployed(tmp_path_factory) -> Deployed:
    data = digits(limit=240)
    model = demo_model(DemoNet(steps=T, hidden=24, spiking=12), seed=0)
    fit(model, data.x_train, data.y_train, epochs=2, sparsity_weight=0.05, progress=False)
    root = tmp_path_factory.mktemp("deployed")
    demo = root / "demo"
    build, plan = compile_graph(export_model(model), load_target("emulator"), demo / "build")
    with Deployment.load(build) as deployment:
        result = deployment.run(data.x_test, batch_size=25, progress=False, run_dir=root / "run")
    float_acc = accuracy(predict(model, data.x_test), data.y_test)
    deployed_acc = accuracy(result.outputs, data.y_test)
    report = build_report(
        float_acc,
        deployed_acc,
        result,
        plan,
        {"target": "emulator", "config": {"sparsity_weight": 0.05}},
    )
    write_report(demo, report)
    shutil.copytree(build, root / "build")
    return Deployed(demo, root / "run", root / "build", float_acc, deployed_acc, result, plan)
