"""What the board's packets did, counted since the last reset.

Why one record shared by the emulator's parts: the router counts lookups, hops, link load and
drops, the cores count deliveries and the packets they cannot use, and the fast path adds the
same counts from its tables; a step taken either way must leave the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from snapdeploy.backends.spinnaker.mesh import N_LINKS


@dataclass
class TrafficStats:
    """Counts since the last reset, summed over batch items."""

    packets_sent: int = 0
    router_lookups: int = 0
    hops: int = 0
    deliveries: int = 0
    dropped_link_capacity: int = 0
    dropped_no_route: int = 0
    dropped_no_link: int = 0
    no_synaptic_row: int = 0
    misdelivered: int = 0
    link_load: np.ndarray = field(default_factory=lambda: np.zeros((0, N_LINKS), np.int64))

    @classmethod
    def zeros(cls, n_chips: int) -> TrafficStats:
        """No traffic yet, with a load counter for every link of `n_chips` chips."""
        return cls(link_load=np.zeros((n_chips, N_LINKS), np.int64))

    @property
    def dropped(self) -> int:
        return self.dropped_link_capacity + self.dropped_no_route + self.dropped_no_link

    def to_json(self) -> dict[str, int]:
        counts = {k: int(v) for k, v in vars(self).items() if k != "link_load"}
        return counts | {"dropped": self.dropped}
