"""Deployment targets: typed device specs and the loader of targets/*.toml."""

from __future__ import annotations

from snapdeploy.targets.loader import SHIPPED_TARGETS_DIR, load_target, shipped_targets
from snapdeploy.targets.spec import (
    ALL_KINDS,
    DENSE_KINDS,
    DEVICE_TYPES,
    SPIKING_KINDS,
    DeviceSpec,
    HlsDevice,
    LavaDevice,
    LinkSpec,
    ReferenceDevice,
    SpiNNakerDevice,
    Target,
    TorchDevice,
)

__all__ = [
    "ALL_KINDS",
    "DENSE_KINDS",
    "DEVICE_TYPES",
    "SHIPPED_TARGETS_DIR",
    "SPIKING_KINDS",
    "DeviceSpec",
    "HlsDevice",
    "LavaDevice",
    "LinkSpec",
    "ReferenceDevice",
    "SpiNNakerDevice",
    "Target",
    "TorchDevice",
    "load_target",
    "shipped_targets",
]
