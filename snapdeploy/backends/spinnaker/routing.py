"""Multicast trees over the chip mesh, and the per-chip routing tables that realise them.

Each routing unit's packets (a sending slice's, or a block of its neurons: `route_units`)
follow one tree: from its chip to every chip holding a slice it connects to, along
dimension-order routes (`Mesh.last_link`), the routes of one unit merged where they share
hops. A chip's entry for that unit is (the unit's key, its mask, a route word): bits 0-5 the links the packet leaves by, bit 6 + c core c of this chip. A chip that
passes the packet straight on (in by one link, out by the opposite one, nothing delivered
locally) needs no entry: the router's default route does it, as on SpiNNaker, and those keys
are kept as `passing` so compression never captures them. Packets sent by a local core have
no default route, so the source chip always has an entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from snapdeploy.backends.spinnaker.mesh import N_LINKS, Mesh
from snapdeploy.backends.spinnaker.placement import Placements
from snapdeploy.backends.spinnaker.route_units import RouteUnits

CORE_BIT0 = N_LINKS


def link_bit(link: int) -> int:
    return 1 << link


def core_bit(core: int) -> int:
    return 1 << (CORE_BIT0 + core)


def route_parts(route: int, cores_per_chip: int) -> tuple[list[int], list[int]]:
    """The links and cores a route word sends to."""
    links = [link for link in range(N_LINKS) if route & link_bit(link)]
    cores = [core for core in range(cores_per_chip) if route & core_bit(core)]
    return links, cores


@dataclass
class RoutingTable:
    """One chip's router: entries in priority order (the first match wins), and passing keys."""

    chip: int
    keys: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint32))
    masks: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint32))
    routes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))
    passing_keys: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint32))
    passing_masks: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint32))

    def __len__(self) -> int:
        return len(self.keys)


@dataclass
class Routes:
    """Every chip's table plus, per link, how many keys (neurons) are routed over it."""

    tables: list[RoutingTable]
    keys_per_link: np.ndarray  # int64 [n_chips, 6]


def multicast_tree(mesh: Mesh, neighbours: np.ndarray, src: int, targets: np.ndarray):
    """(parent chip, link, child chip) hops of the tree from `src` reaching every target chip."""
    parents, links, children = [], [], []
    in_tree = {src}
    frontier = np.unique(targets[targets != src])
    while frontier.size:
        link = mesh.last_link(np.full(frontier.shape, src), frontier)
        parent = neighbours[frontier, (link + N_LINKS // 2) % N_LINKS]
        parents.append(parent)
        links.append(link)
        children.append(frontier)
        in_tree.update(frontier.tolist())
        fresh = np.unique(parent)
        frontier = np.array([p for p in fresh.tolist() if p not in in_tree], dtype=np.int64)
    if not parents:
        return (np.zeros(0, np.int64),) * 3
    return np.concatenate(parents), np.concatenate(links), np.concatenate(children)


def build_routes(
    units: RouteUnits,
    edges: tuple[np.ndarray, np.ndarray],
    placements: Placements,
    mesh: Mesh,
) -> Routes:
    """Trees for every unit that sends (`edges`: (unit, target slice) pairs), and the tables
    they need on every chip."""
    neighbours = mesh.neighbours()
    entries: list[list[tuple[int, int, int]]] = [[] for _ in range(mesh.n_chips)]
    passing: list[list[tuple[int, int]]] = [[] for _ in range(mesh.n_chips)]
    keys_per_link = np.zeros((mesh.n_chips, N_LINKS), np.int64)
    edge_pre, edge_post = edges
    order = np.argsort(edge_pre, kind="stable")
    cut = np.searchsorted(edge_pre[order], np.arange(len(units) + 1))
    for u in range(len(units)):
        post = edge_post[order[cut[u] : cut[u + 1]]]
        if post.size == 0:
            continue
        src = int(placements.chip[units.slice[u]])
        parent, link, child = multicast_tree(mesh, neighbours, src, placements.chip[post])
        np.add.at(keys_per_link, (parent, link), int(units.hi[u] - units.lo[u]))
        route = np.zeros(mesh.n_chips, np.int64)
        np.bitwise_or.at(route, parent, np.left_shift(1, link))
        np.bitwise_or.at(
            route, placements.chip[post], np.left_shift(1, CORE_BIT0 + placements.core[post])
        )
        arrival = np.full(mesh.n_chips, -1, np.int64)
        arrival[child] = link
        key, mask = int(units.key[u]), int(units.mask[u])
        for chip in np.flatnonzero(route).tolist():
            if chip != src and route[chip] == link_bit(int(arrival[chip])):
                passing[chip].append((key, mask))
            else:
                entries[chip].append((key, mask, int(route[chip])))
    tables = [
        RoutingTable(
            chip=chip,
            keys=np.array([e[0] for e in rows], np.uint32),
            masks=np.array([e[1] for e in rows], np.uint32),
            routes=np.array([e[2] for e in rows], np.uint64),
            passing_keys=np.array([k for k, _ in through], np.uint32),
            passing_masks=np.array([m for _, m in through], np.uint32),
        )
        for chip, (rows, through) in enumerate(zip(entries, passing))
    ]
    return Routes(tables, keys_per_link)
