"""Benchmark records: every `tools/bench_*.py` writes `bench/<name>.json` through here.

DESIGN.md fixes the shape: `headline` (the figures the issue names, under those names),
`results` (every measured case: parameters, our time, the peer's time, the ratio) and `env`
(CPU, threads, library versions, date, command line), so numbers stay comparable and true.
"""

from __future__ import annotations

import itertools
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from snapdeploy.core.files import atomic_write

BENCH_DIR = Path(__file__).resolve().parents[1] / "bench"


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions(packages: list[str]) -> dict[str, str | None]:
    """Installed versions of the packages a benchmark compares (None when absent)."""
    found: dict[str, str | None] = {}
    for name in packages:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def bench_env(packages: list[str]) -> dict[str, Any]:
    import torch

    return {
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "versions": versions(["snapdeploy", "numpy", "torch", *packages]),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }


def random_lif_layer(n_in: int, n_out: int, rng: Any) -> Any:
    """Random Lava-form weights and a threshold that lets a fraction of neurons fire."""
    from snapdeploy.core.neuron import LifLayerParams

    return LifLayerParams(
        weights=2 * rng.integers(-128, 128, (n_out, n_in)),
        weight_exp=0,
        du=400,
        dv=200,
        vth=300,
        bias_mant=rng.integers(0, 64, n_out),
        bias_exp=2,
    )


@dataclass(frozen=True)
class BenchNetwork:
    """A random chain of LIF layers as one spiking partition, its input spikes and the
    reference's spikes of every layer: what a backend bench runs and checks itself against."""

    widths: tuple[int, ...]
    layers: list[Any]
    spikes: np.ndarray  # bool [steps, batch, widths[0]]
    per_layer: list[np.ndarray]  # the reference's spikes of each layer
    partition: Any

    def events_per_layer(self) -> list[float]:
        """Input spikes per step and batch item reaching each layer."""
        steps, batch, _ = self.spikes.shape
        return [float(s.sum()) / (steps * batch) for s in [self.spikes, *self.per_layer[:-1]]]

    def timed_run(self, executor: Any, what: str) -> float:
        """Best time of a fresh window on `executor`, once its spikes equal the reference's."""
        return self.timed_runs([executor], what)[0]

    def timed_runs(self, executors: list[Any], what: str, repeats: int = 3) -> list[float]:
        """Each executor's best time of a fresh window, once every one's spikes equal the
        reference's; their runs alternate, so that all see the same load."""
        for executor in executors:
            if not np.array_equal(executor.run(self.spikes), self.per_layer[-1]):
                raise SystemExit(f"{what} and the reference disagree on {self.widths}")

        def run(executor: Any) -> None:
            executor.reset()
            executor.run(self.spikes)

        best = [float("inf")] * len(executors)
        for _ in range(repeats):
            for i, executor in enumerate(executors):
                best[i] = min(best[i], best_time(lambda executor=executor: run(executor), 1))
        return best


def bench_network(widths: tuple[int, ...], steps: int, batch: int, rate: float) -> BenchNetwork:
    """Layers of `widths` (seeded by the shape, so reruns measure the same network) fed
    `rate` random input spikes, run on the reference."""
    from snapdeploy.core.graph import SpikingOp
    from snapdeploy.core.neuron import ReferenceNetwork
    from snapdeploy.partition import SpikingPartition

    rng = np.random.default_rng(sum(widths) + steps + batch)
    layers = [random_lif_layer(a, b, rng) for a, b in itertools.pairwise(widths)]
    spikes = rng.random((steps, batch, widths[0])) < rate
    per_layer = ReferenceNetwork(layers).run(spikes, record_all=True)
    ops = tuple(SpikingOp(f"layer{i}", p) for i, p in enumerate(layers))
    partition = SpikingPartition("bench", 0, ops, steps)
    return BenchNetwork(tuple(widths), layers, spikes, per_layer, partition)


def best_time(fn: Callable[[], Any], repeats: int = 3) -> float:
    """Fastest of `repeats` wall-clock runs, in seconds (the least disturbed one)."""
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return min(times)


def write_bench(
    name: str,
    headline: dict[str, Any],
    results: list[dict[str, Any]],
    packages: list[str],
    directory: Path = BENCH_DIR,
) -> Path:
    """Write `bench/<name>.json` atomically and return its path."""
    record = {"headline": headline, "results": results, "env": bench_env(packages)}
    path = directory / f"{name}.json"
    atomic_write(path, (json.dumps(record, indent=2) + "\n").encode())
    return path
