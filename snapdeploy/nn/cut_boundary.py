"""A spike boundary for whatever tensor crosses a die cut of an arbitrary model.

A transformer's residual stream is `[batch, tokens, d]`, a CNN's feature map
`[batch, C, H, W]`: either way the boundary codes each position (token or pixel) as spikes
over its channels, so a spiking layer at the boundary is a per-position Dense, and the
positions fold into the batch axis of the `[T, rows, n]` layout every spiking stage uses.
A signed activation (a residual stream) is sent as two spike channels per value, its positive
and its negative part, because a LIF encoder only spikes for positive input.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import nn

from snapdeploy.core.errors import ModelStructureError
from snapdeploy.nn.boundary import SpikeDecoder, SpikeEncoder
from snapdeploy.nn.hybrid import SpikingLinear

#: Tensor rank -> the axis holding channels (2: [batch, n], 3: tokens, 4: images).
CHANNEL_AXIS = {2: 1, 3: 2, 4: 1}


def channel_axis(shape: Sequence[int], where: str) -> int:
    """The channel axis of a tensor crossing a cut, or a named refusal of its rank."""
    if len(shape) not in CHANNEL_AXIS:
        raise ModelStructureError(
            f"{where}: the tensor crossing the cut has shape {tuple(shape)}; a spike boundary "
            f"takes [batch, n], [batch, tokens, d] or [batch, C, H, W]; fix: move the cut to "
            f"where the activation has one of these shapes"
        )
    return CHANNEL_AXIS[len(shape)]


def to_rows(x: torch.Tensor) -> torch.Tensor:
    """[batch, ..., channels-somewhere] -> [positions, channels], channels last."""
    moved = x.movedim(channel_axis(x.shape, "spike boundary"), -1)
    return moved.reshape(-1, moved.shape[-1])


def from_rows(rows: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    """Inverse of `to_rows` for a tensor of `shape`."""
    axis = channel_axis(shape, "spike boundary")
    moved = [s for i, s in enumerate(shape) if i != axis] + [shape[axis]]
    return rows.reshape(moved).movedim(-1, axis)


def split_signed(rows: torch.Tensor) -> torch.Tensor:
    """[..., n] -> [..., 2n]: the positive part, then the negative part's magnitude."""
    return torch.cat([rows.clamp(min=0), (-rows).clamp(min=0)], dim=-1)


def merge_signed(rows: torch.Tensor, channels: int) -> torch.Tensor:
    """Inverse of `split_signed` on decoded values."""
    return rows[..., :channels] - rows[..., channels:]


class CutBoundary(nn.Module):
    """Encoder, optional spiking Dense+LIF layers, decoder: one die cut carried as spikes.

    `hidden` are the widths of spiking layers between encoder and decoder; one more layer
    brings them back to the spike width (`channels`, or `2 * channels` when signed), so
    `hidden=(64,)` is a spiking projection whose 64 channels are what a link between the
    two layers carries. The encoder and the layers run the fused LIF; `gradient` is how the
    encoder trains (`SpikeEncoder`: the surrogate's, or the coded rate's, which the SNAP
    evaluation's language model needs and its CNN does not).
    """

    def __init__(
        self,
        channels: int,
        steps: int,
        signed: bool = True,
        hidden: Sequence[int] = (),
        threshold: float = 1.0,
        dv: float = 0.0,
        gradient: str = "surrogate",
    ):
        super().__init__()
        self.channels, self.steps, self.signed = channels, steps, signed
        width = 2 * channels if signed else channels
        if any(h < 1 for h in hidden):
            raise ModelStructureError(
                f"spike boundary hidden widths {tuple(hidden)} must all be at least 1"
            )
        self.encoder = SpikeEncoder(width, steps, threshold, dv, gradient)
        sizes = [width, *hidden, width] if hidden else [width]
        self.layers = nn.ModuleList(SpikingLinear(a, b) for a, b in itertools.pairwise(sizes))
        self.decoder = SpikeDecoder(width, steps)
        if not hidden:
            with torch.no_grad():  # count / T ~ input / threshold: identity at init
                self.decoder.scale.fill_(threshold / steps)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Activation -> spikes [T, positions, width] (what leaves the first die)."""
        rows = to_rows(x)
        return self.encoder(split_signed(rows) if self.signed else rows)

    def decode(self, spikes: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
        """Spikes [T, positions, width] -> the activation of `shape` on the next die."""
        rows = self.decoder(spikes)
        return from_rows(merge_signed(rows, self.channels) if self.signed else rows, shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.stage_spikes(x)[-1], x.shape)

    def stage_spikes(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The spikes [T, positions, n] of the encoder and of every spiking layer, in order."""
        stages = [self.encode(x)]
        for layer in self.layers:
            stages.append(layer(stages[-1]))
        return stages

    @property
    def link_stage(self) -> int:
        """Which of `stage_spikes` a die-to-die link carries: the narrowest (the encoder's
        when there are no layers; a spiking projection's output, for `hidden=(64,)`)."""
        widths = [self.encoder.n, *(layer.synapse.out_features for layer in self.layers)]
        return min(range(len(widths)), key=widths.__getitem__)

    def rates(self) -> list[torch.Tensor]:
        """Spike rates of the last forward, the encoder's and every layer's: link traffic."""
        modules = [self.encoder, *self.layers]
        return [m.last_rate for m in modules if m.last_rate is not None]

    def extra_repr(self) -> str:
        return f"channels={self.channels}, steps={self.steps}, signed={self.signed}"
