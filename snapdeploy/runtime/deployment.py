"""An in-process deployment: every device group in its own thread, spikes bridged as frames.

The groups are joined by in-process queue links carrying the codec's frames, and run the
same loop as ranks of a multi-process run (`runtime.pipeline`), so group k works on step t
while group k + 1 works on step t - 1, and both runs give the same outputs and byte counts.
Executors are reset before each batch, so batches are independent.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import numpy as np
from rich.progress import Progress

from snapdeploy.backends import CompiledPartition, Executor
from snapdeploy.core.errors import SnapdeployError
from snapdeploy.core.packets import MAX_ROWS
from snapdeploy.runtime.board_link import DEFAULT_TIMEOUT_S, RemoteExecutor
from snapdeploy.runtime.links import QueueLink
from snapdeploy.runtime.pipeline import BuildInfo, GroupRunner, load_stages, read_build
from snapdeploy.runtime.stages import Stage
from snapdeploy.runtime.state import RunState, batches, describe_run, write_result
from snapdeploy.runtime.transport import BoundaryStats


@dataclass
class RunResult:
    """The outputs of a deployment run and what it measured on the way."""

    outputs: np.ndarray
    boundaries: list[BoundaryStats]
    seconds_per_partition: dict[str, float] = field(default_factory=dict)


def check_batch_size(batch_size: int) -> None:
    if not 1 <= batch_size <= MAX_ROWS:
        raise SnapdeployError(
            f"batch size {batch_size} is outside 1..{MAX_ROWS} (one frame per step holds the "
            f"batch); fix: pass a batch size in that range"
        )


def collect_stats(records: Iterable[BoundaryStats]) -> list[BoundaryStats]:
    """One record per boundary, merged over every sender that carried it."""
    merged: dict[int, BoundaryStats] = {}
    for stats in records:
        total = merged.setdefault(
            stats.boundary_id,
            BoundaryStats(stats.boundary_id, stats.width, stats.steps, values=stats.values),
        )
        total.merge(stats)
    return [merged[b] for b in sorted(merged)]


class Deployment:
    """Loaded executors of one build directory, runnable on dense inputs."""

    def __init__(self, info: BuildInfo, stages: list[Stage]):
        self.info = info
        self.build_dir = info.directory
        self.stages = stages

    @property
    def compiled(self) -> list[CompiledPartition]:
        return [stage.compiled for stage in self.stages]

    @property
    def executors(self) -> list[Executor]:
        return [stage.executor for stage in self.stages]

    @executors.setter
    def executors(self, executors: list[Executor]) -> None:
        for stage, executor in zip(self.stages, executors, strict=True):
            stage.executor = executor

    @classmethod
    def load(cls, build_dir: str | Path) -> Deployment:
        info = read_build(build_dir)
        return cls(info, load_stages(info, list(range(len(info.compiled)))))

    def run(
        self,
        inputs: np.ndarray,
        batch_size: int = 256,
        progress: bool = True,
        run_dir: Path | None = None,
        resume: bool = False,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> RunResult:
        """Run dense inputs [N, ...] through every partition; outputs of the last one.

        With `run_dir`, each completed batch is kept there and `resume` skips those done.
        """
        if len(inputs) == 0:
            raise SnapdeployError("no inputs to run; fix: pass at least one sample")
        check_batch_size(batch_size)
        spans_all = batches(len(inputs), batch_size)
        state = RunState(run_dir, describe_run(self.build_dir, inputs, batch_size), resume)
        spans = [(i, a, b) for i, (a, b) in enumerate(spans_all) if not state.done(i)]
        groups = self.info.groups
        links = [QueueLink(self.info.link_name(g[-1])) for g in groups[:-1]]
        runners = [
            GroupRunner(
                self.info,
                g,
                [self.stages[i] for i in members],
                links[g - 1] if g else None,
                links[g] if g < len(links) else None,
                timeout,
            )
            for g, members in enumerate(groups)
        ]
        for stage in self.stages:
            stage.seconds = 0.0
            if isinstance(stage.executor, RemoteExecutor):
                stage.executor.timeout = timeout
        errors: list[tuple[int, BaseException]] = []  # (group, what stopped it)
        began = time.perf_counter()
        with Progress(disable=not progress, transient=True) as bar:
            task = bar.add_task("deployed run", total=len(spans))
            threads = [
                threading.Thread(
                    target=self._serve,
                    name=f"snapdeploy-group-{g}",
                    daemon=True,
                    args=(
                        runner,
                        spans,
                        inputs,
                        state,
                        links,
                        errors,
                        (lambda: bar.advance(task)) if g == len(runners) - 1 else (lambda: None),
                    ),
                )
                for g, runner in enumerate(runners)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        run_seconds = time.perf_counter() - began
        if errors:  # the first group in pipeline order: those after it only lost their input
            raise min(errors, key=lambda failed: failed[0])[1]
        stats = collect_stats(s.stats for runner in runners for s in runner.senders)
        seconds = {stage.name: stage.seconds for stage in self.stages}
        if run_dir is not None:
            write_result(run_dir, stats, seconds, run_seconds)
        return RunResult(state.finish(len(spans_all)), stats, seconds)

    @staticmethod
    def _serve(runner: GroupRunner, spans, inputs, state, links, errors, advance) -> None:
        """A group's thread: on failure, record the error and abort its outgoing link."""
        try:
            runner.run(spans, inputs if runner.inbound is None else None, state, advance)
        except BaseException as error:  # noqa: BLE001 - handed to the caller's thread
            errors.append((runner.group, error))
            if runner.group < len(links):
                links[runner.group].abort()

    def close(self) -> None:
        for stage in self.stages:
            stage.executor.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
