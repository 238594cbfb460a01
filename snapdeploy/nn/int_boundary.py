"""The non-spiking alternative at a die cut: the crossing activation sent as b-bit integers.

A user who wants fewer bytes on a link would first quantize the activation (int8, int4);
SNAP's spikes must beat that, not only fp16. `IntBoundary` fake-quantizes the tensor that
crosses a cut with one learned scale (straight-through rounding, LSQ-style: clipping and the
scale learn from the task loss), starting from the spike encoder's threshold, so the same
fine-tuning serves both; `int_cut` swaps a `SnapCutNet`'s spike boundaries for these.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

from snapdeploy.core.errors import ModelStructureError
from snapdeploy.nn.cut_boundary import CutBoundary
from snapdeploy.nn.snap_cut import SnapCutNet


class IntBoundary(nn.Module):
    """x -> round(clamp(x / s, low, high)) * s with a learned scale s; the wire carries the
    integers, `bits` per value (signed: [-2^(b-1), 2^(b-1)-1], else [0, 2^b - 1])."""

    def __init__(self, channels: int, bits: int, signed: bool, clip: float):
        super().__init__()
        if not 2 <= bits <= 16:
            raise ModelStructureError(f"an integer boundary takes 2..16 bits, got {bits}")
        self.channels, self.bits, self.signed = channels, bits, signed
        self.low = -(1 << (bits - 1)) if signed else 0
        self.high = (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1
        self.log_scale = nn.Parameter(torch.tensor(math.log(clip / self.high)))

    @classmethod
    def like(cls, boundary: CutBoundary, bits: int) -> IntBoundary:
        """An integer boundary for the cut `boundary` codes, clipping where its encoder's
        threshold starts (the activation's 99th |value| percentile at the cut)."""
        clip = float(boundary.encoder.threshold.detach())
        return cls(boundary.channels, bits, boundary.signed, clip)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.log_scale.exp()
        q = torch.clamp(x / scale, self.low, self.high)
        return (q + (q.round() - q).detach()) * scale

    def rates(self) -> list[torch.Tensor]:
        """No spikes: nothing for a sparsity loss."""
        return []

    def extra_repr(self) -> str:
        return f"channels={self.channels}, bits={self.bits}, signed={self.signed}"


def int_cut(net: SnapCutNet, bits: int) -> SnapCutNet:
    """A copy of `net` (dies included) whose cuts carry `bits`-bit integers instead of spikes."""
    boundaries = [IntBoundary.like(b, bits) for b in net.boundaries]
    dies = [copy.deepcopy(d) for d in net.dies]
    return SnapCutNet(dies, boundaries, list(net.cuts))
