"""The board as compile leaves it: which slice runs on which core, and every router's table.

Why a module of its own: it is the one contract between mapping (which writes and reads it)
and the emulator's parts (which only read it), so neither side imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from snapdeploy.backends.spinnaker.delay_extension import Populations
from snapdeploy.backends.spinnaker.keys import KeyLayout
from snapdeploy.backends.spinnaker.mesh import Mesh
from snapdeploy.backends.spinnaker.route_units import RouteUnits
from snapdeploy.backends.spinnaker.routing import RoutingTable


@dataclass(frozen=True)
class Board:
    """Everything the emulator needs, as compile wrote it: slices on cores, and the tables."""

    mesh: Mesh
    layout: KeyLayout
    cores_per_chip: int
    link_capacity: int | None
    populations: Populations
    population: np.ndarray  # int64 [n_slices]
    lo: np.ndarray  # int64 [n_slices]
    hi: np.ndarray  # int64 [n_slices]
    chip: np.ndarray  # int64 [n_slices]
    core: np.ndarray  # int64 [n_slices]
    route_bits: np.ndarray  # int64 [n_slices]: low key bits its routing entries leave open
    sends: np.ndarray  # bool [units]: the routing unit's spikes are sent as packets
    tables: list[RoutingTable]

    @property
    def n_slices(self) -> int:
        return len(self.lo)

    @property
    def base(self) -> np.ndarray:
        """int64 [n_slices]: the key of each slice's neuron 0."""
        return self.layout.base(
            self.mesh.xy[self.chip, 0], self.mesh.xy[self.chip, 1], self.core
        ).astype(np.int64)

    @cached_property
    def units(self) -> RouteUnits:
        """Each slice's routing units: blocks of 2**route_bits neurons (`route_units`)."""
        return RouteUnits.of(self.lo, self.hi, self.base, self.route_bits)
