"""Place partitions on a target's devices: dense on torch, spiking on any spiking kind.

The default puts each partition on the first device (in the target file's order) whose kind
can run it; an explicit mapping (partition name -> device name), from the target file's
`[mapping]` table or from `--map PARTITION=DEVICE` on the command line (which wins), overrides
that. The plan records which link each boundary crosses, what a sample would cost as fp16,
and the frame bytes per step expected at an assumed spike rate (the runtime measures the
real ones).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from snapdeploy.core.errors import TargetError
from snapdeploy.core.packets import expected_frame_bytes
from snapdeploy.partition.partitions import Boundary, Partition
from snapdeploy.targets import Target, kinds

PLAN_FILE = "plan.json"
#: Spike rate and batch the plan's byte estimates assume (the demo's links run at 3-30%).
ASSUMED_SPIKE_RATE = 0.1
ASSUMED_BATCH = 256


@dataclass(frozen=True)
class Placement:
    partition: str
    index: int
    partition_kind: str
    device: str
    device_kind: str


@dataclass(frozen=True)
class BoundaryPlacement:
    boundary: Boundary
    src_device: str
    dst_device: str
    has_link: bool


@dataclass(frozen=True)
class Plan:
    target: str
    placements: tuple[Placement, ...]
    boundaries: tuple[BoundaryPlacement, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "placements": [asdict(p) for p in self.placements],
            "boundaries": [
                {
                    **asdict(b.boundary),
                    "src_device": b.src_device,
                    "dst_device": b.dst_device,
                    "has_link": b.has_link,
                    "fp16_bytes_per_sample": b.boundary.fp16_bytes_per_sample,
                    **estimated_traffic(b.boundary),
                }
                for b in self.boundaries
            ],
        }

    def write(self, directory: Path) -> Path:
        path = directory / PLAN_FILE
        path.write_text(json.dumps(self.to_json(), indent=2))
        return path


def estimated_traffic(boundary: Boundary) -> dict[str, float]:
    """Frame bytes per step for a batch, and per sample over all steps, at the assumed rate."""
    per_step = expected_frame_bytes(boundary.width, ASSUMED_BATCH, ASSUMED_SPIKE_RATE)
    return {
        "assumed_spike_rate": ASSUMED_SPIKE_RATE,
        "assumed_batch": ASSUMED_BATCH,
        "estimated_bytes_per_step": per_step,
        "estimated_bytes_per_sample": per_step * boundary.steps / ASSUMED_BATCH,
    }


def parse_mapping(items: list[str]) -> dict[str, str]:
    """`PARTITION=DEVICE` pairs from the command line."""
    mapping = {}
    for item in items:
        partition, sep, device = item.partition("=")
        if not sep or not partition.strip() or not device.strip():
            raise TargetError(
                f"--map {item!r} is not PARTITION=DEVICE; fix: e.g. --map p1_spiking=fpga"
            )
        mapping[partition.strip()] = device.strip()
    return mapping


def spiking_on(device: str) -> Callable[[list[Partition]], dict[str, str]]:
    """A placement that puts every spiking partition on `device`."""
    return lambda partitions: {p.name: device for p in partitions if p.kind == "spiking"}


def _capable_kinds(partition: Partition) -> tuple[str, ...]:
    return kinds(partition.kind)


def _choose_device(partition: Partition, target: Target, mapping: dict[str, str]) -> str:
    kinds = _capable_kinds(partition)
    if partition.name in mapping:
        device = target.device(mapping[partition.name])
        if device.kind not in kinds:
            raise TargetError(
                f"partition '{partition.name}' is {partition.kind} but device '{device.name}' "
                f"is {device.kind}; fix: map it to a device of kind {', '.join(kinds)}"
            )
        return device.name
    candidates = target.devices_of_kind(*kinds)
    if not candidates:
        raise TargetError(
            f"target '{target.name}' ({target.path}) has no device that can run "
            f"{partition.kind} partition '{partition.name}'; fix: add a device of kind "
            f"{' or '.join(kinds)}"
        )
    return candidates[0].name


def place(
    partitions: list[Partition],
    boundaries: list[Boundary],
    target: Target,
    mapping: dict[str, str] | None = None,
) -> Plan:
    """Assign every partition a device and every boundary the link it crosses."""
    mapping = mapping or {}
    unknown = sorted(set(mapping) - {p.name for p in partitions})
    if unknown:
        raise TargetError(
            f"mapping names unknown partitions {', '.join(unknown)}; partitions are "
            f"{', '.join(p.name for p in partitions)}"
        )
    placements = tuple(
        Placement(p.name, p.index, p.kind, name, target.device(name).kind)
        for p in partitions
        for name in [_choose_device(p, target, mapping)]
    )
    boundary_placements = tuple(
        BoundaryPlacement(
            boundary=b,
            src_device=placements[b.src].device,
            dst_device=placements[b.dst].device,
            has_link=target.link_between(placements[b.src].device, placements[b.dst].device)
            is not None,
        )
        for b in boundaries
    )
    return Plan(target.name, placements, boundary_placements)
