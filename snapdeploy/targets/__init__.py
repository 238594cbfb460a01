"""Deployment targets: typed device specs and the loader of target files (.toml)."""

from __future__ import annotations

from snapdeploy.targets.loader import SHIPPED_TARGETS_DIR, load_target, shipped_targets
from snapdeploy.targets.spec import (
    DEVICE_TYPES,
    DeviceSpec,
    HlsDevice,
    LavaDevice,
    LinkSpec,
    ReferenceDevice,
    RtlDevice,
    SpiNNakerDevice,
    Target,
    TorchDevice,
    kinds,
    register_device_type,
)

__all__ = [
    "DEVICE_TYPES",
    "SHIPPED_TARGETS_DIR",
    "DeviceSpec",
    "HlsDevice",
    "LavaDevice",
    "LinkSpec",
    "ReferenceDevice",
    "RtlDevice",
    "SpiNNakerDevice",
    "Target",
    "TorchDevice",
    "kinds",
    "load_target",
    "register_device_type",
    "shipped_targets",
]
