"""The one interface every backend implements, and the registry the runtime looks them up in.

Like a Lava Process and its ProcessModels: a partition says *what* runs, each backend's
`compile` says *how* on its hardware, and `load` gives an `Executor` that runs it. Backends
are imported lazily by kind, so a deployment that uses only the reference never imports Lava.
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from snapdeploy.core.errors import BackendError

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
    def record_spiking(
        cls, kind: str, partition: Any, device: Any, out: Path, **meta: Any
    ) -> CompiledPartition:
        """Save and return the record of a compiled spiking partition, with backend `meta`."""
        compiled = cls(
            kind=kind,
            partition=partition.name,
            device=device.name,
            path=out,
            n_in=partition.n_in,
            n_out=partition.n_out,
            meta={"index": partition.index, "neurons": partition.n_neurons, **meta},
        )
        compiled.save()
        return compiled

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


#: Where each kind's backend lives; imported on first use.
BACKEND_MODULES: dict[str, str] = {
    "reference": "snapdeploy.backends.reference",
    "torch": "snapdeploy.backends.torch_dense",
    "lava": "snapdeploy.backends.lava",
    "hls": "snapdeploy.backends.hls",
    "spinnaker": "snapdeploy.backends.spinnaker",
}

_REGISTRY: dict[str, type] = {}


def register_backend(cls: type) -> type:
    """Class decorator: make a backend available under its `kind`."""
    _REGISTRY[cls.kind] = cls
    return cls


def get_backend(kind: str) -> Backend:
    """A fresh backend for `kind`, importing its module on first use."""
    if kind not in _REGISTRY:
        module = BACKEND_MODULES.get(kind)
        if module is None:
            raise BackendError(
                f"no backend for device kind '{kind}'; known kinds: "
                f"{', '.join(sorted(BACKEND_MODULES))}"
            )
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            raise BackendError(
                f"the '{kind}' backend cannot be imported ({exc}); fix: run `make install` "
                f"so its dependencies are installed"
            ) from exc
    if kind not in _REGISTRY:
        raise BackendError(f"the '{kind}' backend is not available in this version")
    return _REGISTRY[kind]()
