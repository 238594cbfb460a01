"""The contract every backend keeps, and the shared steps that make keeping it cheap.

Like a Lava Process and its ProcessModels: a partition says *what* runs, each backend's
`compile` says *how* on its hardware, and `load` gives an `Executor` that runs it.

A spiking backend subclasses `SpikingBackend` and writes only what is its own: which devices
it can hold (`neuron_capacity`, `prepare`), which layer kinds it runs (`layer_kinds`: Dense
alone unless it says more; any other layer is refused by name at compile), what it writes
into the build directory (`emit`) and how it opens a compiled partition (`open`). The steps every backend shares (validate the
layers, refuse what does not fit before anything is written, save the partition, record it,
load it back) run here, once. Its executor subclasses `ExecutorBase`, which owns the input
checks, the batch a state belongs to, `reset`, `states()` and the context manager, so a
backend's executor writes only how to start, step, read and clear its state.
"""

from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, Self

import numpy as np

from snapdeploy.core.errors import BackendError, CapacityError
from snapdeploy.core.neuron import LayerState
from snapdeploy.partition.partitions import SpikingPartition
from snapdeploy.targets.spec import DeviceSpec

COMPILED_FILE = "compiled.json"
#: "1" while `snapdeploy deploy --emulate` runs, in its process and the ranks it launches
#: (they inherit the environment): backends that could open hardware open their emulation.
EMULATE_ENV = "SNAPDEPLOY_EMULATE"


@contextmanager
def emulation_mode(emulate: bool) -> Iterator[None]:
    """Force emulation on (or, for `--board`, off) for the duration, then restore the caller's."""
    before = os.environ.get(EMULATE_ENV)
    os.environ[EMULATE_ENV] = "1" if emulate else "0"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(EMULATE_ENV, None)
        else:
            os.environ[EMULATE_ENV] = before


def emulation_forced() -> bool:
    return os.environ.get(EMULATE_ENV) == "1"


def board_requested() -> bool:
    """Whether `deploy --board` is running (it sets the emulation switch off explicitly; a
    plain `run` leaves it unset and stays on the simulation)."""
    return os.environ.get(EMULATE_ENV) == "0"


@dataclass(frozen=True)
class CompiledPartition:
    """What `compile` produced: enough to `load` it again, in this process or another."""

    kind: str
    partition: str
    device: str
    path: Path
    n_in: int
    n_out: int
    meta: dict[str, Any] = field(default_factory=dict)

    def save(self) -> None:
        record = asdict(self) | {"path": "."}
        (self.path / COMPILED_FILE).write_text(json.dumps(record, indent=2))

    @classmethod
    def load(cls, path: Path) -> CompiledPartition:
        record = json.loads((path / COMPILED_FILE).read_text())
        return cls(**(record | {"path": path}))


class Executor(Protocol):
    """Runs one compiled partition; state persists across `run` calls until `reset`."""

    def run(self, inputs: np.ndarray) -> np.ndarray: ...

    def reset(self) -> None: ...

    def close(self) -> None: ...


class Backend(Protocol):
    """Compiles a partition for one device kind and loads the result."""

    kind: str

    def compile(self, partition: Any, device: Any, out: Path) -> CompiledPartition: ...

    def load(self, compiled: CompiledPartition) -> Executor: ...


#: Every layer kind there is (`params.kinds` of core's layers): a synapse (dense, delay,
#: conv, pool), and subtract_reset for neurons that reset by subtraction.
LAYER_KINDS = frozenset({"dense", "delay", "conv", "pool", "subtract_reset"})


def check_layer_kinds(partition: SpikingPartition, kind: str, runs: frozenset[str]) -> None:
    """Refuse the first layer needing a kind the backend does not run, naming both."""
    for op in partition.ops:
        missing = sorted(op.params.kinds - runs)
        if missing:
            raise BackendError(
                f"layer '{op.name}' of partition '{partition.name}' is a {' + '.join(missing)} "
                f"layer, which the '{kind}' backend does not run (it runs: "
                f"{', '.join(sorted(runs))}); fix: place this partition on a device of a kind "
                f"that runs {' and '.join(missing)} layers (its backend's layer_kinds)"
            )


def check_spiking_partition(
    partition: SpikingPartition, device_name: str, max_neurons: int | None
) -> None:
    """Every layer within Loihi's widths, and the partition within the device's neurons."""
    for op in partition.ops:
        op.params.validate(op.name)
    if max_neurons is not None and partition.n_neurons > max_neurons:
        raise CapacityError(
            f"partition '{partition.name}' has {partition.n_neurons} neurons but device "
            f"'{device_name}' holds {max_neurons}; fix: place it on a larger device or "
            f"shrink its layers"
        )


class SpikingBackend(ABC):
    """Compiles spiking partitions for one device kind; the shared steps are written here once."""

    kind: ClassVar[str]
    #: The layer kinds this backend runs (see LAYER_KINDS); others are refused at compile.
    layer_kinds: ClassVar[frozenset[str]] = frozenset({"dense"})

    def compile(
        self, partition: SpikingPartition, device: DeviceSpec, out: Path
    ) -> CompiledPartition:
        """Refuse what does not fit (before writing anything), then save, emit and record."""
        check_layer_kinds(partition, self.kind, self.layer_kinds)
        check_spiking_partition(partition, device.name, self.neuron_capacity(device))
        prepared = self.prepare(partition, device)
        out.mkdir(parents=True, exist_ok=True)
        partition.save(out)
        meta = self.emit(prepared, partition, device, out)
        compiled = CompiledPartition(
            kind=self.kind,
            partition=partition.name,
            device=device.name,
            path=out,
            n_in=partition.n_in,
            n_out=partition.n_out,
            meta={"index": partition.index, "neurons": partition.n_neurons, **meta},
        )
        compiled.save()
        return compiled

    def load(self, compiled: CompiledPartition) -> ExecutorBase:
        partition = SpikingPartition.load(compiled.path, compiled.partition, compiled.meta["index"])
        return self.open(compiled, partition)

    def neuron_capacity(self, device: DeviceSpec) -> int | None:
        """How many neurons `device` holds in all (None: no limit beyond `prepare`'s checks)."""
        return None

    def prepare(self, partition: SpikingPartition, device: DeviceSpec) -> Any:
        """The backend's own checks and plan (a layout, a mapping), made before any file is
        written; handed to `emit`. Raise a `CapacityError` naming both numbers if it does not fit."""
        return None

    @abstractmethod
    def emit(
        self, prepared: Any, partition: SpikingPartition, device: DeviceSpec, out: Path
    ) -> dict[str, Any]:
        """Write the backend's files into `out` (the partition is saved there already); return
        what `open` needs later, recorded in compiled.json."""

    @abstractmethod
    def open(self, compiled: CompiledPartition, partition: SpikingPartition) -> ExecutorBase:
        """An executor for a compiled partition."""

    def cycles_per_step(
        self, partition: SpikingPartition, device: DeviceSpec, events_in: float
    ) -> float | None:
        """Clock cycles per time step on `device`, for cores priced by cycles (FPGAs); None
        for devices priced by operation counts."""
        return None


class ExecutorBase(ABC):
    """A spiking executor: bool [T, batch, n_in] -> bool [T, batch, n_out], state kept per item.

    State carries over between `run` calls, for the batch size of the first call after
    `reset`; a different batch size without `reset` is refused, as is a wrong input width.
    Subclasses implement `_start` (fresh zero state for a batch), `_advance`, `_layer_states`,
    and, where they hold more than Python objects, `_clear` and `_release`.
    """

    def __init__(self, n_in: int, n_out: int):
        self.n_in = n_in
        self.n_out = n_out
        self._batch: int | None = None
        self._closed = False

    def run(self, inputs: np.ndarray) -> np.ndarray:
        if self._closed:
            raise BackendError(
                f"this {type(self).__name__} is closed; fix: load the partition again"
            )
        if inputs.ndim != 3 or inputs.shape[2] != self.n_in:
            raise BackendError(
                f"expected spikes [T, batch, {self.n_in}], got {inputs.shape}; fix: give "
                f"{self.n_in} input channels per step"
            )
        steps, batch, _ = inputs.shape
        if self._batch is None:
            self._start(batch)
            self._batch = batch
        elif batch != self._batch:
            raise BackendError(
                f"batch changed from {self._batch} to {batch} without reset(); fix: call "
                f"reset() between batches"
            )
        if steps == 0:
            return np.zeros((0, batch, self.n_out), dtype=bool)
        return self._advance(inputs.astype(bool, copy=False))

    def states(self) -> list[LayerState]:
        """Every layer's u, v and pending Dense activation [batch, n] after the last run."""
        if self._batch is None:
            raise BackendError("no state yet: run() a batch first")
        return self._layer_states()

    def reset(self) -> None:
        """Every batch item back to the zero state; the next run may use another batch size."""
        self._batch = None
        self._clear()

    def close(self) -> None:
        """Free what the executor holds; it cannot run after this."""
        if not self._closed:
            self._batch = None
            self._closed = True
            self._release()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @abstractmethod
    def _start(self, batch: int) -> None:
        """Make a zero state for `batch` items."""

    @abstractmethod
    def _advance(self, spikes: np.ndarray) -> np.ndarray:
        """Run bool [T >= 1, batch, n_in] on from the current state."""

    @abstractmethod
    def _layer_states(self) -> list[LayerState]:
        """Copies of every layer's state."""

    def _clear(self) -> None:
        """Drop the state (the next run starts from zeros)."""

    def _release(self) -> None:
        """Free buffers, processes or devices."""
