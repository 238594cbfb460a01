"""The errors a NIR import or export raises on purpose, so callers can tell them apart."""

from __future__ import annotations

from snapdeploy.core.errors import ModelStructureError, SnapdeployError, UnsupportedLayerError


class NirFormatError(SnapdeployError):
    """A file is not a readable NIR graph (not HDF5, missing entries, bad edges)."""


class NirGraphError(ModelStructureError):
    """A NIR graph's shape is one we cannot schedule: a cycle, a branch, several inputs."""


class UnsupportedNirNodeError(UnsupportedLayerError):
    """A NIR graph holds nodes with no snapdeploy equivalent (or a model has no NIR one)."""
