"""Put slices on cores of chips, keeping connected slices near each other.

The heuristic: take slices in network order (input, then layer by layer) and put each on the
chip with a free core that minimises the summed hop distance to the slices it connects to
that are already placed, breaking ties by closeness to the previous slice's chip and then by
chip order. The first slice starts on chip (0, 0), where the Ethernet link brings spikes in.
So a layer grows next to the layer that feeds it, and consecutive slices fill one chip before
spilling to its neighbours. `random_placement` is the baseline it is measured against.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snapdeploy.backends.spinnaker.mesh import Mesh
from snapdeploy.backends.spinnaker.slicing import SliceGraph
from snapdeploy.core.errors import CapacityError


@dataclass(frozen=True)
class Placements:
    """Where each slice runs: chip index (into `Mesh.xy`) and core on that chip."""

    chip: np.ndarray  # int64 [n_slices]
    core: np.ndarray  # int64 [n_slices]


def check_cores(graph: SliceGraph, mesh: Mesh, cores_per_chip: int, where: str) -> None:
    """Refuse a network that needs more cores than the board has, with both numbers."""
    have = mesh.n_chips * cores_per_chip
    if graph.n_slices > have:
        per_population = ", ".join(
            f"{name} {len(graph.slices_of(i))}" for i, name in enumerate(graph.population_names)
        )
        raise CapacityError(
            f"{where}: needs {graph.n_slices} cores ({per_population}) but the board has "
            f"{mesh.n_chips} chips x {cores_per_chip} cores = {have}; fix: a larger board "
            f"(more chips) or smaller layers"
        )


def neighbour_lists(graph: SliceGraph) -> list[np.ndarray]:
    """For each slice, the slices it sends to or receives from."""
    ends = np.concatenate([graph.edge_pre, graph.edge_post])
    others = np.concatenate([graph.edge_post, graph.edge_pre])
    order = np.argsort(ends, kind="stable")
    split = np.searchsorted(ends[order], np.arange(1, graph.n_slices))
    return np.split(others[order], split)


def place_slices(graph: SliceGraph, mesh: Mesh, cores_per_chip: int, where: str) -> Placements:
    """Network-order placement with a neighbourhood search (see the module docstring)."""
    check_cores(graph, mesh, cores_per_chip, where)
    free = np.full(mesh.n_chips, cores_per_chip, dtype=np.int64)
    chip = np.full(graph.n_slices, -1, dtype=np.int64)
    core = np.full(graph.n_slices, -1, dtype=np.int64)
    chip_order = np.arange(mesh.n_chips)
    previous = 0  # chip (0, 0) is index 0: chips() lists x-major from (0, 0)
    for s, neighbours in enumerate(neighbour_lists(graph)):
        placed = chip[neighbours]
        placed = placed[placed >= 0]
        cost = mesh.distance(placed[:, None], chip_order[None, :]).sum(axis=0)
        near_previous = mesh.distance(previous, chip_order)
        ranked = np.lexsort((chip_order, near_previous, cost))
        best = ranked[free[ranked] > 0][0]
        chip[s] = best
        core[s] = cores_per_chip - free[best]
        free[best] -= 1
        previous = best
    return Placements(chip, core)


def random_placement(
    graph: SliceGraph, mesh: Mesh, cores_per_chip: int, where: str, seed: int
) -> Placements:
    """Slices on uniformly random distinct cores: the baseline for the heuristic's hop count."""
    check_cores(graph, mesh, cores_per_chip, where)
    slots = np.random.default_rng(seed).permutation(mesh.n_chips * cores_per_chip)
    slots = slots[: graph.n_slices]
    return Placements(slots // cores_per_chip, slots % cores_per_chip)
