"""An exported graph scored as every backend computes it: run on the integer reference.

The graph is cut, placed on the emulator target's numpy reference device, compiled into a
throwaway build and run with spikes carried as packets, exactly as a deployment would run it,
so the accuracy recorded beside the float one is the deployed model's.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from snapdeploy.core.graph import ModelGraph
from snapdeploy.nn.train import accuracy
from snapdeploy.partition.place import spiking_on
from snapdeploy.runtime import Deployment, compile_graph
from snapdeploy.targets import load_target


@dataclass(frozen=True)
class ReferenceScore:
    accuracy: float  # fraction in 0..1
    spikes_per_sample: float  # spikes crossing every boundary, per input sample


def reference_score(graph: ModelGraph, x: np.ndarray, y: np.ndarray) -> ReferenceScore:
    """Accuracy and boundary spikes of `graph` on (x, y), spiking layers on the reference."""
    target = load_target("emulator")
    device = target.devices_of_kind("reference")[0].name
    with tempfile.TemporaryDirectory(prefix="snapdeploy-qat-") as work:
        build, _ = compile_graph(graph, target, Path(work) / "build", spiking_on(device))
        with Deployment.load(build) as deployment:
            result = deployment.run(x, progress=False)
    spikes = sum(b.spikes for b in result.boundaries)
    return ReferenceScore(accuracy(result.outputs, y), spikes / len(x))
