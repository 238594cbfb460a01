"""The .snap artifact: atomic writes and verified reads of a model's manifest and tensors."""

from __future__ import annotations

from snapdeploy.artifact.format import (
    FORMAT_NAME,
    MANIFEST_ENTRY,
    SCHEMA_VERSION,
    TENSORS_ENTRY,
    Artifact,
    read_artifact,
    write_artifact,
)

__all__ = [
    "FORMAT_NAME",
    "MANIFEST_ENTRY",
    "SCHEMA_VERSION",
    "TENSORS_ENTRY",
    "Artifact",
    "read_artifact",
    "write_artifact",
]
