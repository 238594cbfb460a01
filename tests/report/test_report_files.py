"""`snapdeploy report` on a demo output, a run directory and a bare build: every file is
written (atomically), every plot is a PNG of the stated size, and a build nothing ran in
(zero counts) still gives a valid report."""

from __future__ import annotations

import json
import shutil
import struct

import numpy as np
import pytest
from typer.testing import CliRunner

from snapdeploy.cli import app
from snapdeploy.core.errors import SnapdeployError
from snapdeploy.report import document, plots
from snapdeploy.report.document import HTML_FILE, MARKDOWN_FILE, write_full_report
from snapdeploy.runtime.state import RESULT_FILE

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SIZE = (int(plots.FIGSIZE[0] * plots.DPI), int(plots.FIGSIZE[1] * plots.DPI))


def png_size(data: bytes) -> tuple[int, int]:
    assert data.startswith(PNG_MAGIC)
    return struct.unpack(">II", data[16:24])


def copy(src, tmp_path):
    return shutil.copytree(src, tmp_path / src.name)


def check_files(directory, report):
    assert json.loads((directory / "report.json").read_text()) == json.loads(json.dumps(report))
    assert (directory / MARKDOWN_FILE).read_text().startswith("# snapdeploy report")
    assert (directory / HTML_FILE).read_text().startswith("<!DOCTYPE html>")
    assert len(report["plots"]) == 5
    for path in report["plots"].values():
        data = (directory / path).read_bytes()
        assert len(data) > 5000
        assert png_size(data) == SIZE
    assert not list(directory.rglob("*.tmp"))


def test_a_demo_output_keeps_its_headline_and_gains_estimates(deployed, tmp_path):
    directory = copy(deployed.demo, tmp_path)
    before = json.loads((directory / "report.json").read_text())
    report = write_full_report(directory)
    check_files(directory, report)
    head = report["headline"]
    assert head["deployed_accuracy"] == before["headline"]["deployed_accuracy"]
    assert head["boundary_bytes_fp16_over_spikes"] == pytest.approx(
        before["headline"]["boundary_bytes_fp16_over_spikes"]
    )
    assert head["energy_fp16_over_spikes"] > 1.0  # the links cost less with spikes on them
    assert report["source"]["kind"] == "demo" and report["source"]["samples"] == 60
    devices = report["energy"]["devices"]
    assert [d["device_kind"] for d in devices] == ["torch", "reference", "torch"]
    assert (
        devices[0]["counts"]["macs"] == 64 * 24 and devices[0]["counts"]["neuron_updates"] == 24 * 4
    )
    spiking = devices[1]["counts"]
    assert spiking["neuron_updates"] == 12 * 4
    spikes_in = report["traffic"][0]["spikes"] / 60
    assert spiking["synaptic_events"] == pytest.approx(spikes_in * 12, rel=0.5)  # fan-out <= 12
    assert report["notes"] == []
    # run again on its own output: the same figures (the report is its own input)
    again = write_full_report(directory)
    assert again["energy"]["totals"] == report["energy"]["totals"]


def test_a_run_directory_is_priced_and_plots_the_spikes_it_recorded(deployed, tmp_path):
    directory = copy(deployed.run, tmp_path)
    report = write_full_report(directory)
    check_files(directory, report)
    assert report["source"]["kind"] == "run"
    assert report["headline"]["boundary_bytes_fp16_over_spikes"] > 1.0
    assert not any("per-step" in n for n in report["notes"])
    recorded = json.loads((directory / RESULT_FILE).read_text())["boundaries"]
    for boundary in recorded:
        assert sum(boundary["spikes_per_step"]) == boundary["spikes"]
        raster = np.array(boundary["first_sample_raster"])
        assert raster.shape == (boundary["steps"], boundary["width"])
    assert any(b["spikes"] for b in recorded)
    assert [sum(t["spikes_per_step"]) for t in report["traffic"]] == [b["spikes"] for b in recorded]


def test_a_build_with_zero_counts_is_still_a_valid_report(deployed, tmp_path):
    directory = copy(deployed.build, tmp_path)
    report = write_full_report(directory)
    check_files(directory, report)
    assert report["source"]["samples"] == 0
    assert report["headline"]["boundary_bytes_fp16_over_spikes"] is None
    assert report["energy"]["totals"]["spikes"]["energy_pj"] is None
    assert report["energy"]["totals"]["fp16"]["energy_pj"] > 0  # compute and fp16 links priced
    assert any("no run was measured" in n for n in report["notes"])
    assert "n/a" in (directory / MARKDOWN_FILE).read_text()


def test_every_report_file_goes_through_atomic_write(deployed, tmp_path, monkeypatch):
    directory = copy(deployed.demo, tmp_path)
    written = []
    for module in (document, plots):
        real = module.atomic_write
        monkeypatch.setattr(
            module,
            "atomic_write",
            lambda path, data, real=real: (written.append(path.name), real(path, data)),
        )
    report = write_full_report(directory)
    expected = {"report.json", MARKDOWN_FILE, HTML_FILE} | {
        p.split("/")[-1] for p in report["plots"].values()
    }
    assert sorted(written) == sorted(expected)


def test_a_failed_report_leaves_the_previous_files_untouched(deployed, tmp_path, monkeypatch):
    directory = copy(deployed.demo, tmp_path)
    before = (directory / "report.json").read_bytes()

    def broken(*_):
        raise RuntimeError("disk full")

    monkeypatch.setattr(document, "render_markdown", broken)
    with pytest.raises(RuntimeError):
        write_full_report(directory)
    assert (directory / "report.json").read_bytes() == before
    assert not (directory / MARKDOWN_FILE).exists() and not list(directory.rglob("*.tmp"))


def test_an_unknown_directory_is_refused_with_a_fix(tmp_path):
    with pytest.raises(SnapdeployError, match="not a build, run or demo directory.*fix"):
        write_full_report(tmp_path)


def test_cli_prints_the_headline_table(deployed, tmp_path):
    directory = copy(deployed.demo, tmp_path)
    result = CliRunner().invoke(app, ["report", str(directory)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "energy fp16 / spikes" in result.output and "report.html" in result.output
    missing = CliRunner().invoke(app, ["report", str(tmp_path / "nowhere")])
    assert missing.exit_code == 1 and "not a build, run or demo directory" in missing.output
