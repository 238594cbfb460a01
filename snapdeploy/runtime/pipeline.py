"""A build as a pipeline: partitions grouped by device, each group run by one loop over
(batch, step), the same loop in a thread of one process or in a rank of many.

Consecutive partitions on the same device form a group (one rank per group). A group reads
its first partition's input (the dense inputs, or frames from the previous group's link),
passes every event through its partitions, and sends its last partition's spikes on, step by
step, so the next group starts on step t while this one computes step t + 1.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from snapdeploy.backends import CompiledPartition, get_backend
from snapdeploy.compile import BUILD_FILE
from snapdeploy.compile.verify import verify_build
from snapdeploy.core.errors import SnapdeployError
from snapdeploy.partition.place import PLAN_FILE
from snapdeploy.runtime.board_link import DEFAULT_TIMEOUT_S, RemoteExecutor
from snapdeploy.runtime.errors import LinkFailure
from snapdeploy.runtime.links import Link, QueueLink
from snapdeploy.runtime.stages import Event, Stage
from snapdeploy.runtime.state import RunState
from snapdeploy.runtime.transport import LinkReceiver, LinkSender


@dataclass(frozen=True)
class BuildInfo:
    """What a build directory says about its pipeline."""

    directory: Path
    steps: int
    compiled: tuple[CompiledPartition, ...]
    devices: tuple[str, ...]
    #: per boundary, the dense values its spikes stand for (plan.json; None: one per channel)
    values: tuple[int | None, ...]

    @property
    def groups(self) -> list[list[int]]:
        """Partition indices of each device group, in pipeline order."""
        groups: list[list[int]] = []
        for index, device in enumerate(self.devices):
            if not groups or self.devices[groups[-1][-1]] != device:
                groups.append([])
            groups[-1].append(index)
        return groups

    def group_label(self, group: int) -> str:
        members = self.groups[group]
        names = ", ".join(self.compiled[i].partition for i in members)
        return f"device '{self.devices[members[0]]}' ({names})"

    def link_name(self, boundary: int) -> str:
        return (
            f"boundary {boundary} ({self.devices[boundary]} {self.compiled[boundary].partition}"
            f" -> {self.devices[boundary + 1]} {self.compiled[boundary + 1].partition})"
        )

    def width(self, boundary: int) -> int:
        return self.compiled[boundary].n_out

    def sender(self, boundary: int, link: Link) -> LinkSender:
        """The sending end of `boundary` over `link`, counting what its spikes stand for."""
        return LinkSender(boundary, link, self.width(boundary), self.steps, self.values[boundary])


def read_build(build_dir: str | Path) -> BuildInfo:
    build_dir = Path(build_dir)
    if not (build_dir / BUILD_FILE).is_file() or not (build_dir / PLAN_FILE).is_file():
        raise SnapdeployError(
            f"{build_dir} is not a snapdeploy build (no {BUILD_FILE} / {PLAN_FILE}); fix: "
            f"run `snapdeploy compile MODEL.snap --target T -o {build_dir}` first"
        )
    verify_build(build_dir)
    record = json.loads((build_dir / BUILD_FILE).read_text())
    plan = json.loads((build_dir / PLAN_FILE).read_text())
    compiled = tuple(CompiledPartition.load(build_dir / name) for name in record["partitions"])
    devices = tuple(p["device"] for p in plan["placements"])
    values = tuple(b.get("values") for b in plan["boundaries"])
    return BuildInfo(build_dir, int(record["steps"]), compiled, devices, values)


def load_stages(
    info: BuildInfo, indices: list[int], timeout: float = DEFAULT_TIMEOUT_S
) -> list[Stage]:
    """Executors for the given partitions (a board's, where its device names a `host`); any
    already loaded are closed if one fails."""
    stages: list[Stage] = []
    try:
        for index in indices:
            compiled = info.compiled[index]
            host = compiled.meta.get("host")
            if host is not None:
                executor = RemoteExecutor(compiled, host, timeout)
            else:
                executor = get_backend(compiled.kind).load(compiled)
            stages.append(Stage(compiled, executor, info.steps))
    except BaseException:
        for stage in stages:
            stage.executor.close()
        raise
    return stages


def local_hop(info: BuildInfo, boundary: int) -> tuple[LinkSender, LinkReceiver]:
    """Both ends of a boundary inside one group: still encoded, counted and checked."""
    link = QueueLink(info.link_name(boundary))
    return info.sender(boundary, link), LinkReceiver(boundary, link, info.width(boundary))


class GroupRunner:
    """Runs one device group over the batches of a run."""

    def __init__(
        self,
        info: BuildInfo,
        group: int,
        stages: list[Stage],
        inbound: Link | None,
        outbound: Link | None,
        timeout: float,
    ):
        self.info, self.group, self.stages, self.timeout = info, group, stages, timeout
        first, last = info.groups[group][0], info.groups[group][-1]
        self.inbound = inbound and LinkReceiver(first - 1, inbound, info.width(first - 1))
        self.outbound = outbound and info.sender(last, outbound)
        self.hops = [local_hop(info, b) for b in info.groups[group][:-1]]
        self.at = (-1, -1)  # (batch, step) being worked on
        self.last_done = -1

    @property
    def senders(self) -> list[LinkSender]:
        return [s for s, _ in self.hops] + ([self.outbound] if self.outbound else [])

    def run(
        self,
        spans: list[tuple[int, int, int]],
        inputs: np.ndarray | None,
        state: RunState | None,
        advance: Callable[[], None] = lambda: None,
    ) -> None:
        """Process each (batch index, start, stop); the last group saves outputs to `state`."""
        try:
            for index, start, stop in spans:
                self._batch(index, start, stop, inputs, state)
                self.last_done = index
                advance()
            if self.outbound:
                self.outbound.link.flush(self.timeout)
        except (LinkFailure, SnapdeployError) as error:
            batch, step = self.at
            where = f"step {step}" if step >= 0 else "its dense input"
            done = f"batch {self.last_done}" if self.last_done >= 0 else "none"
            raise type(error)(
                f"{error} [{self.info.group_label(self.group)} was at batch {batch}, {where}; "
                f"last batch it completed: {done}]"
            ) from None

    def _batch(self, index: int, start: int, stop: int, inputs, state) -> None:
        for stage in self.stages:
            stage.begin()
        self._outputs: list[Event] = []
        if self.inbound is None:
            self.at = (index, -1)
            self._push(0, start, (None, inputs[start:stop]))
        else:
            for step in range(self.info.steps):
                self.at = (index, step)
                spikes = self.inbound.recv(start, stop - start, step, self.timeout)
                self._push(0, start, (step, spikes))
        if self.outbound is None and state is not None:
            state.save(index, _final(self._outputs))

    def _push(self, position: int, start: int, event: Event) -> None:
        for step, value in self.stages[position].feed(*event):
            if step is not None:
                self.at = (self.at[0], step)
            if position + 1 < len(self.stages):
                sender, receiver = self.hops[position]
                sender.send(start, step, value)
                value = receiver.recv(start, len(value), step, self.timeout)
                self._push(position + 1, start, (step, value))
            elif self.outbound is not None:
                self.outbound.send(start, step, value)
            else:
                self._outputs.append((step, value))


def _final(events: list[Event]) -> np.ndarray:
    """The last partition's result: its dense output, or spike counts over the steps."""
    if len(events) == 1 and events[0][0] is None:
        return events[0][1]
    return np.sum([value for _, value in events], axis=0)
