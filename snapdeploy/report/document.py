"""`snapdeploy report DIR`: count, price, plot and write report.json, report.md, report.html.

Reads what DIR measured (see `source`), counts the work of each partition from its build,
prices it with the energy model, and writes every file atomically: the plots first (the page
inlines them), then the three texts, each rendered before any of them is written.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from snapdeploy.core.files import atomic_write
from snapdeploy.report import plots
from snapdeploy.report.constants import Constants, load_constants
from snapdeploy.report.counts import Traffic, measure
from snapdeploy.report.energy import estimate, per_step_latency
from snapdeploy.report.html import render_html
from snapdeploy.report.markdown import render_markdown
from snapdeploy.report.source import Source, read_source
from snapdeploy.report.summary import REPORT_FILE

MARKDOWN_FILE = "report.md"
HTML_FILE = "report.html"
PLOTS_DIR = "plots"


def headline(
    previous: dict[str, Any], traffic: list[Traffic], energy: dict[str, Any]
) -> dict[str, Any]:
    """The demo's headline where there was one, the measured byte ratio, the estimated ratios."""
    wire = sum(t.wire_bytes for t in traffic)
    fp16 = sum(t.dense_bits_per_sample(16) // 8 * t.samples for t in traffic)
    ratios = energy["fp16_over_spikes"]
    return {
        **previous.get("headline", {}),
        "boundary_bytes_fp16_over_spikes": fp16 / wire if wire else None,
        "energy_fp16_over_spikes": ratios["energy"],
        "latency_fp16_over_spikes": ratios["latency"],
    }


def accuracy_points(previous: dict[str, Any]) -> list[dict[str, Any]]:
    """The demo's accuracies at the sparsity weight it trained with (none for a run or build)."""
    head, config = previous.get("headline", {}), previous.get("config", {})
    if "deployed_accuracy" not in head or "sparsity_weight" not in config:
        return []
    return [
        {"series": series, "sparsity_weight": config["sparsity_weight"], "accuracy": head[key]}
        for series, key in (("float", "float_accuracy"), ("deployed", "deployed_accuracy"))
        if head.get(key) is not None
    ]


def notes(source: Source, energy: dict[str, Any]) -> list[str]:
    """Everything the estimate could not count, in words."""
    found = [f"{d['partition']}: {u}" for d in energy["devices"] for u in d["unmeasured"]]
    if not any(s.samples for s in source.stats):
        found.append(
            "no run was measured here: spike traffic is n/a and compute counts assume "
            "no input spikes; run the build and report the run directory"
        )
    found += [
        f"boundary {l['boundary']} ({l['from']} -> {l['to']}) crosses no link of the "
        f"target: not priced"
        for l in energy["links"]
        if l["link"] is None
    ]
    return found


def build_full_report(source: Source, constants: Constants) -> dict[str, Any]:
    target = source.target()
    work, traffic = measure(source.build_dir, source.stats, target)
    energy = estimate(work, traffic, target, constants)
    rows = per_step_latency(energy, traffic)
    directory = source.directory
    written = {
        "spike raster and rate per step": plots.plot_spikes(
            source.stats, directory / PLOTS_DIR / plots.PLOT_FILES["spikes"]
        ),
        "bytes per boundary": plots.plot_bytes(
            traffic, directory / PLOTS_DIR / plots.PLOT_FILES["bytes"]
        ),
        "energy per device and link": plots.plot_energy(
            energy, directory / PLOTS_DIR / plots.PLOT_FILES["energy"]
        ),
        "latency per step": plots.plot_latency(
            rows, directory / PLOTS_DIR / plots.PLOT_FILES["latency"]
        ),
        "accuracy vs sparsity weight": plots.plot_accuracy(
            accuracy_points(source.previous), directory / PLOTS_DIR / plots.PLOT_FILES["accuracy"]
        ),
    }
    return {
        **source.previous,
        "headline": headline(source.previous, traffic, energy),
        "source": {
            "directory": str(directory),
            "kind": source.kind,
            "build": str(source.build_dir),
            "target": target.name,
            "samples": max((t.samples for t in traffic), default=0),
        },
        "traffic": [asdict(t) for t in traffic],
        "energy": energy,
        "latency_per_step": rows,
        "notes": notes(source, energy),
        "plots": {name: str(path.relative_to(directory)) for name, path in written.items()},
    }


def write_full_report(directory: Path, constants: Constants | None = None) -> dict[str, Any]:
    """Write report.json, report.md, plots/*.png and report.html into `directory`."""
    source = read_source(Path(directory))
    report = build_full_report(source, constants or load_constants())
    directory = source.directory
    texts = {  # all rendered before any is written, so a failure leaves the old ones whole
        REPORT_FILE: json.dumps(report, indent=2),
        MARKDOWN_FILE: render_markdown(report),
        HTML_FILE: render_html(report, directory),
    }
    for name, text in texts.items():
        atomic_write(directory / name, text.encode())
    return report
