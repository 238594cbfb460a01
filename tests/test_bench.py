"""snapdeploy.bench: a bench network's timed runs check every executor against the
reference before timing, then alternate them, so that each sees the same load."""

from __future__ import annotations

import numpy as np
import pytest

from snapdeploy.bench import bench_network


class Recorded:
    """An executor that answers `spikes` to every run and records the runs in `calls`."""

    def __init__(self, name: str, spikes: np.ndarray, calls: list[str]):
        self.name, self.spikes, self.calls = name, spikes, calls

    def run(self, inputs: np.ndarray) -> np.ndarray:
        self.calls.append(self.name)
        return self.spikes

    def reset(self) -> None:
        pass


def test_timed_runs_check_each_executor_then_alternate_them() -> None:
    net = bench_network((6, 4), 3, 2, 0.5)
    calls: list[str] = []
    executors = [Recorded(name, net.per_layer[-1], calls) for name in "ab"]
    times = net.timed_runs(executors, "the bench", repeats=2)
    assert len(times) == 2 and all(t > 0 for t in times)
    assert calls == ["a", "b", "a", "b", "a", "b"]
    wrong = Recorded("c", ~net.per_layer[-1], calls)
    with pytest.raises(SystemExit, match=r"the bench and the reference disagree on \(6, 4\)"):
        net.timed_runs([executors[0], wrong], "the bench")
