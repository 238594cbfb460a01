"""A PNG of the chip mesh: chips with their used cores, links drawn by how much they carry.

Why: a glance shows where traffic concentrates (hot links near the input, long trees from a
scattered placement) before anything runs. Chips sit at SpiNNaker's hexagonal positions;
torus links that wrap around the grid are not drawn.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from snapdeploy.backends.spinnaker.mesh import LINK_STEPS, Mesh


def plot_mesh(
    mesh: Mesh, cores_used: np.ndarray, link_load: np.ndarray, title: str, path: Path
) -> None:
    """Write `path`: `cores_used` [n_chips] per chip, `link_load` [n_chips, 6] per link."""
    from snapdeploy.core.extras import needs

    with needs("train", __name__):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib import cm, colors

    pos = np.stack([mesh.xy[:, 0] - 0.5 * mesh.xy[:, 1], mesh.xy[:, 1] * 0.87], axis=1)
    neighbours = mesh.neighbours()
    peak = max(int(link_load.max(initial=0)), 1)
    norm = colors.Normalize(0, peak)
    fig, ax = plt.subplots(figsize=(1.2 * mesh.width + 3, 1.0 * mesh.height + 2))
    for chip, link in zip(*np.nonzero(neighbours >= 0)):
        other = neighbours[chip, link]
        if not np.array_equal(mesh.xy[other] - mesh.xy[chip], LINK_STEPS[link]):
            continue  # a wrap-around link
        load = link_load[chip, link] + link_load[other, (link + 3) % 6]
        if link >= 3:
            continue  # each undirected link once, from its E / NE / N end
        ax.plot(
            *pos[[chip, other]].T,
            color=cm.viridis(norm(load)),
            linewidth=1 + 5 * load / peak,
            zorder=1,
        )
    dots = ax.scatter(*pos.T, c=cores_used, cmap="Greys", vmin=0, s=300, edgecolors="k", zorder=2)
    for chip, (x, y) in enumerate(mesh.xy.tolist()):
        ax.annotate(f"{x},{y}", pos[chip], ha="center", va="center", fontsize=6, color="tab:red")
    fig.colorbar(cm.ScalarMappable(norm, cm.viridis), ax=ax, label="keys routed over link")
    fig.colorbar(dots, ax=ax, label="cores used")
    ax.set_title(title)
    ax.set_aspect("equal")
    ax.axis("off")
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
