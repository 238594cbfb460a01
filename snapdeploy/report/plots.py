"""The report's plots, written as PNG (matplotlib Agg, no display needed), atomically.

Each plot has a fixed size (FIGSIZE at DPI), draws a note instead of data where a run did
not measure something (no samples, no raster, no accuracy), and is never half written.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from snapdeploy.core.extras import needs
from snapdeploy.core.files import atomic_write
from snapdeploy.report.counts import Traffic
from snapdeploy.runtime import BoundaryStats

with needs("train", __name__):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

DPI = 100
FIGSIZE = (10.0, 4.0)  # inches: every report plot is 1000 x 400 pixels
PLOT_FILES = {
    "spikes": "spikes.png",
    "bytes": "bytes_per_boundary.png",
    "energy": "energy_breakdown.png",
    "latency": "latency_per_step.png",
    "accuracy": "accuracy_vs_sparsity.png",
}


def save_figure(fig: plt.Figure, path: Path, dpi: int = DPI) -> Path:
    """PNG bytes rendered in memory, then written in one step."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    atomic_write(path, buffer.getvalue())
    return path


def note(ax: plt.Axes, text: str) -> None:
    """Say on the axes why there is nothing to draw."""
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True, transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def draw_raster(ax: plt.Axes, stats: list[BoundaryStats]) -> None:
    offset, drawn = 0, False
    for s in stats:
        if s.first_sample_raster is not None:
            t, n = np.nonzero(s.first_sample_raster)
            ax.scatter(t, n + offset, s=6, label=f"boundary {s.boundary_id}")
            offset, drawn = offset + s.width, True
    if not drawn:
        note(ax, "no raster recorded\n(a run directory written before runs recorded one)")
        return
    ax.set_xlabel("time step")
    ax.set_ylabel("neuron (boundaries stacked)")
    ax.legend(fontsize=8)


def draw_rates(ax: plt.Axes, stats: list[BoundaryStats]) -> None:
    measured = [s for s in stats if s.samples and s.spikes_per_step.any()]
    for s in measured:
        ax.plot(
            np.arange(s.steps),
            s.spikes_per_step / (s.samples * s.width),
            marker="o",
            label=f"boundary {s.boundary_id}",
        )
    if not measured:
        note(ax, "no spikes measured")
        return
    ax.set_xticks(np.arange(max(s.steps for s in measured)))
    ax.set_xlabel("time step")
    ax.set_ylabel("spikes per neuron")
    ax.legend(fontsize=8)


def plot_spikes(stats: list[BoundaryStats], path: Path) -> Path:
    """Raster of the first test sample and spike rate per step, per boundary (layer)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=FIGSIZE)
    draw_raster(left, stats)
    left.set_title("Spikes of the first test sample")
    draw_rates(right, stats)
    right.set_title("Spike rate per step")
    fig.tight_layout()
    return save_figure(fig, path)


def plot_bytes(traffic: list[Traffic], path: Path) -> Path:
    """Bytes per sample on each boundary: spikes as measured on the wire vs fp16 and int8."""
    fig, ax = plt.subplots(figsize=FIGSIZE)
    if not traffic:
        note(ax, "no boundaries")
    x = np.arange(len(traffic))
    spikes = [(t.wire_bits_per_sample or 0.0) / 8 for t in traffic]
    ax.bar(x - 0.27, [t.dense_bits_per_sample(16) / 8 for t in traffic], 0.27, label="fp16 dense")
    ax.bar(x, [t.dense_bits_per_sample(8) / 8 for t in traffic], 0.27, label="int8 dense")
    ax.bar(x + 0.27, spikes, 0.27, label="spike frames (measured, headers included)")
    ax.set_xticks(x, [f"boundary {t.boundary}\n{t.src_device} -> {t.dst_device}" for t in traffic])
    ax.set_ylabel("bytes per sample")
    ax.set_title("Traffic per boundary")
    ax.legend()
    fig.tight_layout()
    return save_figure(fig, path)


def plot_energy(estimate: dict[str, Any], path: Path) -> Path:
    """Energy per sample of each device's compute and each link (spikes vs fp16)."""
    fig, ax = plt.subplots(figsize=FIGSIZE)
    labels, spikes, fp16 = [], [], []
    for d in estimate["devices"]:
        labels.append(f"{d['partition']}\non {d['device']}")
        spikes.append(d["energy_pj"])
        fp16.append(d["energy_pj"])
    for link in estimate["links"]:
        labels.append(f"link {link['boundary']}\n{link['from']}->{link['to']}")
        spikes.append(link["spikes"]["energy_pj"] if link["spikes"] else 0.0)
        fp16.append(link["fp16"]["energy_pj"])
    y = np.arange(len(labels))
    ax.barh(y - 0.2, np.asarray(spikes) / 1e3, 0.4, label="with spikes at the boundaries")
    ax.barh(y + 0.2, np.asarray(fp16) / 1e3, 0.4, label="with fp16 at the boundaries")
    ax.set_yticks(y, labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("estimated energy per sample (nJ)")
    ax.set_title("Energy per device and per link (constants in report.json)")
    ax.legend()
    fig.tight_layout()
    return save_figure(fig, path)


def plot_latency(rows: list[dict[str, float]], path: Path) -> Path:
    """Estimated latency of each time step, compute vs link."""
    fig, ax = plt.subplots(figsize=FIGSIZE)
    steps = [r["step"] for r in rows]
    compute = [r["compute_ns"] for r in rows]
    ax.bar(steps, compute, label="compute")
    ax.bar(steps, [r["link_ns"] for r in rows], bottom=compute, label="link (spike frames)")
    ax.set_xticks(steps)
    ax.set_xlabel("time step")
    ax.set_ylabel("estimated latency (ns)")
    ax.set_title("Latency per step: compute vs link")
    ax.legend()
    fig.tight_layout()
    return save_figure(fig, path)


def plot_accuracy(points: list[dict[str, Any]], path: Path, metric: str = "accuracy") -> Path:
    """`metric` (accuracy, or bits per character) against the sparsity weight it was trained
    with, one line per series."""
    fig, ax = plt.subplots(figsize=FIGSIZE)
    series: dict[str, list[tuple[float, float]]] = {}
    for p in points:
        series.setdefault(p.get("series", "deployed"), []).append((p["sparsity_weight"], p[metric]))
    for name, values in series.items():
        values.sort()
        ax.plot(*zip(*values), marker="o", label=name)
    if series:
        ax.set_xscale("symlog", linthresh=1e-3)
        ax.set_xlabel("sparsity weight")
        ax.set_ylabel(metric)
        ax.legend()
    else:
        note(
            ax,
            f"no {metric} measured for this directory\n(a run or build directory holds no labels)",
        )
    ax.set_title(f"{metric.capitalize()} vs sparsity weight")
    fig.tight_layout()
    return save_figure(fig, path)


@dataclass(frozen=True)
class Panel:
    """One axes of line plots: series name -> (x, y) points, and reference lines."""

    title: str
    xlabel: str
    ylabel: str
    series: dict[str, list[tuple[float, float]]]
    xlog: bool = True
    ylog: bool = False
    hline: float | None = 1.0  # e.g. ratio 1: where spikes start to pay off
    vlines: dict[str, float] = field(default_factory=dict)  # name -> x (link classes)
    connect: bool = True  # False: points only (settings, not a curve)


def plot_panels(panels: list[Panel], path: Path) -> Path:
    """Panels side by side (the SNAP evaluation's crossover, scaling and trade-off plots)."""
    fig, axes = plt.subplots(1, len(panels), figsize=FIGSIZE, squeeze=False)
    for ax, panel in zip(axes[0], panels):
        for name, points in panel.series.items():
            ax.plot(
                *zip(*sorted(points)),
                marker="o" if len(points) < 12 else None,
                linestyle="-" if panel.connect else "none",
                label=name,
            )
        if not panel.series:
            note(ax, "nothing measured")
            continue
        for name, x in panel.vlines.items():
            ax.axvline(x, color="#aaa", linewidth=0.8, linestyle=":")
            ax.text(
                x, 1.0, name, rotation=90, va="top", fontsize=7, transform=ax.get_xaxis_transform()
            )
        if panel.hline is not None:
            ax.axhline(panel.hline, color="#888", linewidth=0.8)
        ax.set_xscale("log" if panel.xlog else "linear")
        ax.set_yscale("log" if panel.ylog else "linear")
        ax.set_xlabel(panel.xlabel)
        ax.set_ylabel(panel.ylabel)
        ax.set_title(panel.title, fontsize=10)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_boundaries(stats: list[BoundaryStats], path: Path) -> Path:
    """The demo's one-figure summary: bytes per sample (spikes on the wire vs fp16), spike
    rate per step, first-sample raster."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    x = np.arange(len(stats))
    samples = [max(s.samples, 1) for s in stats]
    axes[0].bar(
        x - 0.2, [s.fp16_bytes / n for s, n in zip(stats, samples)], 0.4, label="fp16 activations"
    )
    axes[0].bar(
        x + 0.2,
        [s.wire_bytes / n for s, n in zip(stats, samples)],
        0.4,
        label="spike packets (wire)",
    )
    axes[0].set_xticks(x, [f"boundary {s.boundary_id}\n({s.width} wide)" for s in stats])
    axes[0].set_ylabel("bytes per sample")
    axes[0].set_title("Traffic per boundary")
    axes[0].legend()
    draw_rates(axes[1], stats)
    axes[1].set_title("Spike rate over time")
    draw_raster(axes[2], stats)
    axes[2].set_title("Spikes of the first test sample")
    fig.tight_layout()
    return save_figure(fig, path, dpi=110)
