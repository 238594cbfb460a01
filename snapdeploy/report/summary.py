"""The run report: headline figures, per-boundary traffic, per-partition placement and time.

Every figure is computed from counts the runtime measured on the wire (packets and bytes
with headers) and from the accuracies measured on the test set; nothing is estimated here.
Each boundary keeps its per-step spike counts and first-sample raster, so `snapdeploy report`
can redraw and price a run from report.json alone.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from snapdeploy.core.files import atomic_write
from snapdeploy.partition import Plan
from snapdeploy.runtime import BoundaryStats, RunResult

REPORT_FILE = "report.json"


def boundary_record(stats: BoundaryStats, plan: Plan) -> dict[str, Any]:
    placed = plan.boundaries[stats.boundary_id]
    return {
        "id": stats.boundary_id,
        "from": f"{placed.src_device} ({plan.placements[placed.boundary.src].partition})",
        "to": f"{placed.dst_device} ({plan.placements[placed.boundary.dst].partition})",
        "width": stats.width,
        "values": stats.dense_values,
        "steps": stats.steps,
        "samples": stats.samples,
        "packets": stats.packets,
        "spikes": stats.spikes,
        "spike_rate": stats.spike_rate,
        "wire_bytes": stats.wire_bytes,
        "wire_bytes_per_sample": stats.wire_bytes / max(stats.samples, 1),
        "fp16_bytes": stats.fp16_bytes,
        "fp16_over_spikes": stats.fp16_bytes / stats.wire_bytes if stats.wire_bytes else None,
        "spikes_per_step": [int(v) for v in stats.spikes_per_step],
        "first_sample_raster": (
            None
            if stats.first_sample_raster is None
            else stats.first_sample_raster.astype(int).tolist()
        ),
    }


def stats_from_record(record: dict[str, Any]) -> BoundaryStats:
    """A boundary's counts back from report.json or a run's result.json (one written before
    runs recorded per-step counts and a raster gives them back empty)."""
    stats = BoundaryStats(
        record["id"],
        record["width"],
        record["steps"],
        values=record.get("values"),
        samples=record["samples"],
        packets=record.get("packets", record.get("frames", 0)),
        wire_bytes=record["wire_bytes"],
        spikes=record["spikes"],
    )
    if record.get("spikes_per_step") is not None:
        stats.spikes_per_step = np.asarray(record["spikes_per_step"], dtype=np.int64)
    if record.get("first_sample_raster") is not None:
        stats.first_sample_raster = np.asarray(record["first_sample_raster"], dtype=bool)
    return stats


def build_report(
    float_accuracy: float,
    deployed_accuracy: float,
    result: RunResult,
    plan: Plan,
    extra: dict[str, Any],
) -> dict[str, Any]:
    """report.json's content; `headline` holds the figures the demo promises."""
    wire = sum(s.wire_bytes for s in result.boundaries)
    fp16 = sum(s.fp16_bytes for s in result.boundaries)
    return {
        "headline": {
            "float_accuracy": float_accuracy,
            "deployed_accuracy": deployed_accuracy,
            "boundary_bytes_fp16_over_spikes": fp16 / wire if wire else None,
        },
        "boundaries": [boundary_record(s, plan) for s in result.boundaries],
        "partitions": [
            {
                "name": p.partition,
                "kind": p.partition_kind,
                "device": p.device,
                "device_kind": p.device_kind,
                "seconds": result.seconds_per_partition.get(p.partition, 0.0),
            }
            for p in plan.placements
        ],
        **extra,
    }


def write_report(directory: Path, report: dict[str, Any]) -> Path:
    path = directory / REPORT_FILE
    atomic_write(path, json.dumps(report, indent=2).encode())
    return path
