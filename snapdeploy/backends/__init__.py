"""Backends: one per device kind, behind the interface in `base`."""

from snapdeploy.backends.base import (
    BACKEND_MODULES,
    Backend,
    CompiledPartition,
    Executor,
    get_backend,
    register_backend,
)

__all__ = [
    "BACKEND_MODULES",
    "Backend",
    "CompiledPartition",
    "Executor",
    "get_backend",
    "register_backend",
]
