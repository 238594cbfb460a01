"""report.json and report.png of a real deployment: the headline figures, the traffic per boundary
measured on the wire, and a PNG plot."""

from __future__ import annotations

import json

import numpy as np
import pytest

from snapdeploy.report import REPORT_FILE, build_report, plot_boundaries, write_report
from snapdeploy.runtime import BoundaryStats, RunResult

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
HEADLINE = {"float_accuracy", "deployed_accuracy", "boundary_bytes_fp16_over_spikes"}


@pytest.fixture(scope="module")
def run(deployed):
    """The session's briefly trained digits model on the emulator: (accuracies, result, plan)."""
    return deployed.float_accuracy, deployed.deployed_accuracy, deployed.result, deployed.plan


def test_headline_holds_accuracy_fractions_and_the_byte_ratio(run):
    float_acc, deployed_acc, result, plan = run
    report = build_report(float_acc, deployed_acc, result, plan, {"target": "emulator"})

    assert set(report["headline"]) == HEADLINE
    head = report["headline"]
    for key in ("float_accuracy", "deployed_accuracy"):
        assert isinstance(head[key], float)
        assert 0.0 <= head[key] <= 1.0
    assert head["float_accuracy"] == float_acc
    assert head["deployed_accuracy"] == deployed_acc
    wire = sum(s.wire_bytes for s in result.boundaries)
    fp16 = sum(s.fp16_bytes for s in result.boundaries)
    assert wire > 0
    assert head["boundary_bytes_fp16_over_spikes"] == pytest.approx(fp16 / wire)
    assert report["target"] == "emulator"


def test_boundaries_and_partitions_follow_the_run_and_the_plan(run):
    float_acc, deployed_acc, result, plan = run
    report = build_report(float_acc, deployed_acc, result, plan, {})

    assert [b["id"] for b in report["boundaries"]] == [0, 1]
    first, second = report["boundaries"]
    assert first["from"] == "host (p0_dense)" and first["to"] == "ref (p1_spiking)"
    assert second["from"] == "ref (p1_spiking)" and second["to"] == "host (p2_dense)"
    for record, stats in zip(report["boundaries"], result.boundaries):
        assert record["width"] == stats.width
        assert record["samples"] == stats.samples == 60
        assert record["wire_bytes"] == stats.wire_bytes
        assert record["fp16_bytes"] == 2 * stats.width * stats.samples
        assert record["wire_bytes_per_sample"] == pytest.approx(stats.wire_bytes / stats.samples)
        assert record["fp16_over_spikes"] == pytest.approx(stats.fp16_bytes / stats.wire_bytes)
        assert 0.0 <= record["spike_rate"] <= 1.0
    assert [
        (p["name"], p["kind"], p["device"], p["device_kind"]) for p in report["partitions"]
    ] == [
        ("p0_dense", "dense", "host", "torch"),
        ("p1_spiking", "spiking", "ref", "reference"),
        ("p2_dense", "dense", "host", "torch"),
    ]
    assert all(p["seconds"] >= 0.0 for p in report["partitions"])


def test_a_run_without_boundaries_has_no_ratio(run):
    _, _, _, plan = run
    empty = RunResult(outputs=np.zeros((0, 10)), boundaries=[])
    report = build_report(0.5, 0.25, empty, plan, {})
    assert report["headline"] == {
        "float_accuracy": 0.5,
        "deployed_accuracy": 0.25,
        "boundary_bytes_fp16_over_spikes": None,
    }
    assert report["boundaries"] == []


def test_write_report_writes_json_atomically(run, tmp_path):
    float_acc, deployed_acc, result, plan = run
    report = build_report(float_acc, deployed_acc, result, plan, {"seconds": 1.5})
    path = write_report(tmp_path, report)
    assert path == tmp_path / REPORT_FILE
    assert json.loads(path.read_text()) == json.loads(json.dumps(report))
    assert [p.name for p in tmp_path.iterdir()] == [REPORT_FILE]  # no temp file left

    write_report(tmp_path, {**report, "seconds": 2.5})
    assert json.loads(path.read_text())["seconds"] == 2.5
    assert [p.name for p in tmp_path.iterdir()] == [REPORT_FILE]


def test_plot_is_written_as_a_png(run, tmp_path):
    _, _, result, _ = run
    path = plot_boundaries(result.boundaries, tmp_path / "plots" / "report.png")
    assert path == tmp_path / "plots" / "report.png"
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC)
    assert len(data) > 1000


def test_plot_copes_with_a_boundary_that_saw_no_samples(tmp_path):
    stats = [BoundaryStats(boundary_id=0, width=4, steps=3)]
    path = plot_boundaries(stats, tmp_path / "empty.png")
    assert path.read_bytes().startswith(PNG_MAGIC)
