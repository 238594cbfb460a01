"""Backends: one package per device kind, on the contract in `base`, found through `registry`."""

from snapdeploy.backends.base import (
    Backend,
    CompiledPartition,
    Executor,
    ExecutorBase,
    SpikingBackend,
)
from snapdeploy.backends.registry import (
    BoardMode,
    KindEntry,
    entry,
    get_backend,
    register_kind,
    registered_kinds,
)

__all__ = [
    "Backend",
    "BoardMode",
    "CompiledPartition",
    "Executor",
    "ExecutorBase",
    "KindEntry",
    "SpikingBackend",
    "entry",
    "get_backend",
    "register_kind",
    "registered_kinds",
]
