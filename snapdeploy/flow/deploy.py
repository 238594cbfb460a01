"""An exported graph compiled for a target and run as a deployment runs it, in one call.

The demo, the QAT flow's integer score and the evaluation tools all need the same two steps
(compile into a build, load it and run it with spikes carried as packets), so the accuracy
each reports is the deployed model's. `reference_score` runs them on the emulator's numpy
reference device, in a throwaway build.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from snapdeploy.compile import compile_graph
from snapdeploy.core.graph import ModelGraph
from snapdeploy.nn.train import accuracy
from snapdeploy.partition import Partition, Plan
from snapdeploy.partition.place import spiking_on
from snapdeploy.runtime import Deployment, RunResult
from snapdeploy.targets import Target, load_target


def compile_and_run(
    graph: ModelGraph,
    target: Target,
    out: Path,
    x: np.ndarray,
    mapping_for: Callable[[list[Partition]], dict[str, str]] | None = None,
    info: dict[str, Any] | None = None,
    progress: bool = True,
) -> tuple[Plan, RunResult]:
    """Compile `graph` for `target` into the build `out` (see `compile_graph` for `mapping_for`
    and `info`), then run that build on `x`; the plan and the run's result."""
    build, plan = compile_graph(graph, target, out, mapping_for, info)
    with Deployment.load(build) as deployment:
        return plan, deployment.run(x, progress=progress)


@dataclass(frozen=True)
class ReferenceScore:
    accuracy: float  # fraction in 0..1
    spikes_per_sample: float  # spikes crossing every boundary, per input sample


def reference_score(graph: ModelGraph, x: np.ndarray, y: np.ndarray) -> ReferenceScore:
    """Accuracy and boundary spikes of `graph` on (x, y), spiking layers on the reference."""
    target = load_target("emulator")
    device = target.devices_of_kind("reference")[0].name
    with tempfile.TemporaryDirectory(prefix="snapdeploy-qat-") as work:
        _, result = compile_and_run(
            graph, target, Path(work) / "build", x, spiking_on(device), progress=False
        )
    spikes = sum(b.spikes for b in result.boundaries)
    return ReferenceScore(accuracy(result.outputs, y), spikes / len(x))
