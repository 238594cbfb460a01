"""An in-process deployment: every compiled partition run in order, spikes bridged as packets.

Each batch passes through the partitions in order; between two partitions the spikes go
through the transport (encoded to packets, counted, decoded), exactly as they would cross a
chip boundary. Executors are reset before each batch, so batches are independent.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rich.progress import Progress

from snapdeploy.backends import CompiledPartition, Executor, get_backend
from snapdeploy.core.errors import SnapdeployError
from snapdeploy.partition.place import PLAN_FILE
from snapdeploy.runtime.build import BUILD_FILE
from snapdeploy.runtime.transport import BoundaryStats, InProcessTransport


@dataclass
class RunResult:
    """The outputs of a deployment run and what it measured on the way."""

    outputs: np.ndarray
    boundaries: list[BoundaryStats]
    seconds_per_partition: dict[str, float] = field(default_factory=dict)


class Deployment:
    """Loaded executors of one build directory, runnable on dense inputs."""

    def __init__(self, build_dir: Path, compiled: list[CompiledPartition], executors: list[Executor]):
        self.build_dir = build_dir
        self.compiled = compiled
        self.executors = executors

    @classmethod
    def load(cls, build_dir: str | Path) -> Deployment:
        build_dir = Path(build_dir)
        if not (build_dir / BUILD_FILE).is_file() or not (build_dir / PLAN_FILE).is_file():
            raise SnapdeployError(
                f"{build_dir} is not a snapdeploy build (no {BUILD_FILE} / {PLAN_FILE}); fix: "
                f"run `snapdeploy compile MODEL.snap --target T -o {build_dir}` first"
            )
        names = json.loads((build_dir / BUILD_FILE).read_text())["partitions"]
        compiled = [CompiledPartition.load(build_dir / name) for name in names]
        executors: list[Executor] = []
        try:
            for c in compiled:
                executors.append(get_backend(c.kind).load(c))
        except BaseException:
            for executor in executors:
                executor.close()
            raise
        return cls(build_dir, compiled, executors)

    def run(self, inputs: np.ndarray, batch_size: int = 256, progress: bool = True) -> RunResult:
        """Run dense inputs [N, ...] through every partition; outputs of the last one."""
        if len(inputs) == 0:
            raise SnapdeployError("no inputs to run; fix: pass at least one sample")
        transport = InProcessTransport()
        seconds = {c.partition: 0.0 for c in self.compiled}
        outputs = []
        starts = range(0, len(inputs), batch_size)
        with Progress(disable=not progress, transient=True) as bar:
            task = bar.add_task("deployed run", total=len(starts))
            for start in starts:
                outputs.append(self._run_batch(inputs[start : start + batch_size], transport, seconds))
                bar.advance(task)
        stats = [transport.stats[i] for i in sorted(transport.stats)]
        return RunResult(np.concatenate(outputs), stats, seconds)

    def _run_batch(self, batch: np.ndarray, transport: InProcessTransport, seconds: dict[str, float]) -> np.ndarray:
        value = batch
        for index, (compiled, executor) in enumerate(zip(self.compiled, self.executors)):
            began = time.perf_counter()
            executor.reset()
            value = executor.run(value)
            seconds[compiled.partition] += time.perf_counter() - began
            if index < len(self.executors) - 1:
                value = transport.carry(index, value)
        return value.sum(axis=0) if value.dtype == bool else value

    def close(self) -> None:
        for executor in self.executors:
            executor.close()

    def __enter__(self) -> Deployment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
