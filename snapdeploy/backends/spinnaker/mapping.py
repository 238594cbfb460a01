"""The mapping a compile produces, and its readable files: placements.json, routing_tables.json.

Why files a person can read: whether a network fits a board is decided by these numbers
(slices per core, keys, entries per router), so they are written as JSON with keys and masks
in hex and routes as named links and core numbers. `load` rebuilds the emulator's `Board`
from these same files, so what runs is exactly what was written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from snapdeploy.backends.spinnaker.board import Board
from snapdeploy.backends.spinnaker.delay_extension import Populations
from snapdeploy.backends.spinnaker.keys import KeyLayout
from snapdeploy.backends.spinnaker.mesh import LINK_NAMES, Mesh
from snapdeploy.backends.spinnaker.placement import Placements
from snapdeploy.backends.spinnaker.routing import (
    RoutingTable,
    core_bit,
    link_bit,
    route_parts,
)
from snapdeploy.backends.spinnaker.slicing import SliceGraph
from snapdeploy.core.errors import BackendError
from snapdeploy.targets.spec import SpiNNakerDevice

PLACEMENTS_FILE = "placements.json"
TABLES_FILE = "routing_tables.json"


@dataclass(frozen=True)
class Mapping:
    """Slices, where they run, and every router's table (before and after compression)."""

    device: SpiNNakerDevice
    mesh: Mesh
    layout: KeyLayout
    graph: SliceGraph
    placements: Placements
    tables: list[RoutingTable]
    entries_before: list[int]
    keys_per_link: np.ndarray  # int64 [n_chips, 6]
    route_bits: np.ndarray  # int64 [n_slices]: low key bits each slice's entries leave open
    sends: np.ndarray  # bool [routing units]: the unit reaches some core, so its core sends it

    def board(self) -> Board:
        return Board(
            mesh=self.mesh,
            layout=self.layout,
            cores_per_chip=self.device.cores_per_chip,
            link_capacity=self.device.link_capacity_per_step,
            populations=self.graph.populations,
            population=self.graph.population,
            lo=self.graph.lo,
            hi=self.graph.hi,
            chip=self.placements.chip,
            core=self.placements.core,
            route_bits=self.route_bits,
            sends=self.sends,
            tables=self.tables,
        )

    def placements_json(self) -> dict[str, Any]:
        board = self.board()
        units, base = board.units, board.base
        first = units.first_of_slice()
        slices = [
            {
                "slice": s,
                "population": self.graph.population_names[board.population[s]],
                "neurons": [int(board.lo[s]), int(board.hi[s])],
                "chip": self.mesh.xy[board.chip[s]].tolist(),
                "core": int(board.core[s]),
                "key": f"0x{int(base[s]):08x}",
                "mask": f"0x{int(units.mask[first[s]]):08x}",
                "sends": board.sends[first[s] : first[s + 1]].tolist(),
                "synapse_bytes": int(self.graph.synapse_bytes[s]),
                "dtcm_bytes": int(self.graph.dtcm_bytes[s]),
            }
            for s in range(self.graph.n_slices)
        ]
        return {
            "key_layout": self.layout.to_json(),
            "populations": [
                {"name": n, "neurons": int(size), **links}
                for n, size, links in zip(
                    self.graph.population_names,
                    self.graph.population_sizes,
                    self.graph.populations.to_json(),
                )
            ],
            "cores_used": self.graph.n_slices,
            "slices": slices,
        }

    def tables_json(self) -> dict[str, Any]:
        chips = []
        for table, before in zip(self.tables, self.entries_before):
            entries = []
            for key, mask, route in zip(table.keys, table.masks, table.routes):
                links, cores = route_parts(int(route), self.device.cores_per_chip)
                entries.append(
                    {
                        "key": f"0x{int(key):08x}",
                        "mask": f"0x{int(mask):08x}",
                        "links": [LINK_NAMES[link] for link in links],
                        "cores": cores,
                    }
                )
            chips.append(
                {
                    "chip": self.mesh.xy[table.chip].tolist(),
                    "entries_before_compression": before,
                    "entries": entries,
                    "default_routed_keys": [f"0x{int(k):08x}" for k in table.passing_keys],
                    "default_routed_masks": [f"0x{int(m):08x}" for m in table.passing_masks],
                }
            )
        return {"router_entries": self.device.router_entries, "chips": chips}

    def write(self, out: Path) -> None:
        (out / PLACEMENTS_FILE).write_text(json.dumps(self.placements_json(), indent=1))
        (out / TABLES_FILE).write_text(json.dumps(self.tables_json(), indent=1))


def open_bits(mask: int) -> int:
    """The low key bits a routing mask leaves open (its trailing zeros)."""
    return (mask & -mask).bit_length() - 1


def read_board(out: Path, device: SpiNNakerDevice) -> Board:
    """The board as placements.json and routing_tables.json describe it."""
    try:
        placed = json.loads((out / PLACEMENTS_FILE).read_text())
        routed = json.loads((out / TABLES_FILE).read_text())
    except (OSError, ValueError) as exc:
        raise BackendError(
            f"{out}: cannot read the SpiNNaker mapping ({exc}); fix: compile the partition again"
        ) from exc
    try:
        populations = Populations.from_json(placed["populations"])
    except KeyError as exc:
        raise BackendError(
            f"{out}: {PLACEMENTS_FILE} names no {exc} for its populations (written by an older "
            f"snapdeploy); fix: compile the partition again"
        ) from exc
    mesh = Mesh.of(device)
    layout = KeyLayout(**placed["key_layout"])
    names = [p["name"] for p in placed["populations"]]
    slices = placed["slices"]
    if not all(isinstance(s["sends"], list) for s in slices):
        raise BackendError(
            f"{out}: {PLACEMENTS_FILE} says per slice, not per routing unit, which of its "
            f"neurons send (written by an older snapdeploy); fix: compile the partition again"
        )
    chip = np.array([mesh.index_of[tuple(s["chip"])] for s in slices], np.int64)
    tables = []
    for row in routed["chips"]:
        entries = row["entries"]
        passing = [int(k, 16) for k in row["default_routed_keys"]]
        if "default_routed_masks" not in row:
            raise BackendError(
                f"{out}: {TABLES_FILE} gives no masks of its default-routed keys (written by an "
                f"older snapdeploy); fix: compile the partition again"
            )
        tables.append(
            RoutingTable(
                chip=int(mesh.index_of[tuple(row["chip"])]),
                keys=np.array([int(e["key"], 16) for e in entries], np.uint32),
                masks=np.array([int(e["mask"], 16) for e in entries], np.uint32),
                routes=np.array(
                    [
                        sum(link_bit(LINK_NAMES.index(n)) for n in e["links"])
                        + sum(core_bit(c) for c in e["cores"])
                        for e in entries
                    ],
                    np.uint64,
                ),
                passing_keys=np.array(passing, np.uint32),
                passing_masks=np.array(
                    [int(m, 16) for m in row["default_routed_masks"]], np.uint32
                ),
            )
        )
    return Board(
        mesh=mesh,
        layout=layout,
        cores_per_chip=device.cores_per_chip,
        link_capacity=device.link_capacity_per_step,
        populations=populations,
        population=np.array([names.index(s["population"]) for s in slices], np.int64),
        lo=np.array([s["neurons"][0] for s in slices], np.int64),
        hi=np.array([s["neurons"][1] for s in slices], np.int64),
        chip=chip,
        core=np.array([s["core"] for s in slices], np.int64),
        sends=np.array([sent for s in slices for sent in s["sends"]], bool),
        route_bits=np.array([open_bits(int(s["mask"], 16)) for s in slices], np.int64),
        tables=tables,
    )
