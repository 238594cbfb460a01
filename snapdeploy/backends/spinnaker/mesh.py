"""The chip mesh of a SpiNNaker board: six links per chip, hop distances, chip indices.

SpiNNaker chips form a triangular mesh: besides east/west and north/south, each chip links
north-east and south-west, so (+1, +1) is one hop. Link numbers follow spinn_machine's
`Routes`: 0 E, 1 NE, 2 N, 3 W, 4 SW, 5 S; a route word's bits 0-5 are these links. On a torus
the links at the grid's edge wrap around; otherwise (and between missing chips of a SpiNN-5
board) there is no link.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snapdeploy.targets.spec import SpiNNakerDevice

LINK_NAMES: tuple[str, ...] = ("E", "NE", "N", "W", "SW", "S")
#: (dx, dy) of one hop along each link.
LINK_STEPS = np.array([(1, 0), (1, 1), (0, 1), (-1, 0), (-1, -1), (0, -1)], dtype=np.int64)
N_LINKS = len(LINK_NAMES)


def hex_length(dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """Hops for a vector on the triangular mesh: diagonal steps cover both axes when signs agree."""
    same = dx * dy > 0
    return np.where(same, np.maximum(np.abs(dx), np.abs(dy)), np.abs(dx) + np.abs(dy))


@dataclass(frozen=True)
class Mesh:
    """The chips that exist on a device, indexed 0..n_chips-1 in `SpiNNakerDevice.chips()` order."""

    width: int
    height: int
    torus: bool
    xy: np.ndarray  # int64 [n_chips, 2]
    index_of: np.ndarray  # int64 [width, height], -1 where no chip exists

    @classmethod
    def of(cls, device: SpiNNakerDevice) -> Mesh:
        xy = np.array(device.chips(), dtype=np.int64).reshape(-1, 2)
        index_of = np.full((device.width, device.height), -1, dtype=np.int64)
        index_of[xy[:, 0], xy[:, 1]] = np.arange(len(xy))
        return cls(device.width, device.height, device.torus, xy, index_of)

    @property
    def n_chips(self) -> int:
        return len(self.xy)

    def vector(self, src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Shortest (dx, dy) from chip indices `src` to `dst`, trying the wrap-arounds on a torus."""
        dx = self.xy[dst, 0] - self.xy[src, 0]
        dy = self.xy[dst, 1] - self.xy[src, 1]
        if not self.torus:
            return dx, dy
        shifts = (0, -1, 1)
        cand_x = np.stack([dx + s * self.width for s in shifts for _ in shifts])
        cand_y = np.stack([dy + s * self.height for _ in shifts for s in shifts])
        best = np.argmin(hex_length(cand_x, cand_y), axis=0)
        pick = np.arange(np.size(dx))
        return (
            cand_x.reshape(9, -1)[best.ravel(), pick].reshape(np.shape(dx)),
            cand_y.reshape(9, -1)[best.ravel(), pick].reshape(np.shape(dy)),
        )

    def distance(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """Hops between chip indices (broadcasting)."""
        return hex_length(*self.vector(*np.broadcast_arrays(src, dst)))

    def neighbours(self) -> np.ndarray:
        """int64 [n_chips, 6]: the chip each link leads to, -1 where the link does not exist."""
        x = self.xy[:, 0, None] + LINK_STEPS[None, :, 0]
        y = self.xy[:, 1, None] + LINK_STEPS[None, :, 1]
        if self.torus:
            x, y = x % self.width, y % self.height
        inside = (x >= 0) & (x < self.width) & (y >= 0) & (y < self.height)
        out = np.full(x.shape, -1, dtype=np.int64)
        out[inside] = self.index_of[x[inside], y[inside]]
        return out

    def last_link(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """The link of the last hop of the dimension-order route from `src` to `dst` (dst != src).

        The route takes the shared diagonal first and then the rest of the longer axis when
        dx and dy agree in sign, else all of x and then all of y. Its last hop is what makes
        a multicast tree: a chip's parent is the chip before it on its own route, so every
        chip has one parent and the union of routes never meets itself.
        """
        dx, dy = self.vector(src, dst)
        same = dx * dy > 0
        diag_last = same & (np.abs(dx) == np.abs(dy))
        y_last = np.where(same, np.abs(dy) > np.abs(dx), dy != 0)
        link = np.where(dx > 0, 0, 3)
        link = np.where(y_last, np.where(dy > 0, 2, 5), link)
        return np.where(diag_last, np.where(dx > 0, 1, 4), link)
