"""Plots of what crossed the boundaries, written as PNG (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from snapdeploy.runtime import BoundaryStats  # noqa: E402


def plot_boundaries(stats: list[BoundaryStats], path: Path) -> Path:
    """Bytes per sample (spikes on the wire vs fp16), spike rate per step, first-sample raster."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    labels = [f"boundary {s.boundary_id}\n({s.width} wide)" for s in stats]
    x = np.arange(len(stats))
    samples = [max(s.samples, 1) for s in stats]
    axes[0].bar(x - 0.2, [s.fp16_bytes / n for s, n in zip(stats, samples)], 0.4, label="fp16 activations")
    axes[0].bar(x + 0.2, [s.wire_bytes / n for s, n in zip(stats, samples)], 0.4, label="spike packets (wire)")
    axes[0].set_xticks(x, labels)
    axes[0].set_ylabel("bytes per sample")
    axes[0].set_title("Traffic per boundary")
    axes[0].legend()
    for s in stats:
        rate = s.spikes_per_step / max(s.samples * s.width, 1)
        axes[1].plot(np.arange(s.steps), rate, marker="o", label=f"boundary {s.boundary_id}")
    steps = max((s.steps for s in stats), default=0)
    for ax in axes[1:]:
        ax.set_xticks(np.arange(steps))
    axes[1].set_xlabel("time step")
    axes[1].set_ylabel("spikes per neuron")
    axes[1].set_title("Spike rate over time")
    axes[1].legend()
    offset = 0
    for s in stats:
        if s.first_sample_raster is not None:
            t, n = np.nonzero(s.first_sample_raster)
            axes[2].scatter(t, n + offset, s=6, label=f"boundary {s.boundary_id}")
            offset += s.width
    axes[2].set_xlabel("time step")
    axes[2].set_ylabel("neuron (boundaries stacked)")
    axes[2].set_title("Spikes of the first test sample")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
