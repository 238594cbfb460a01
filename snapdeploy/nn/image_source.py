"""Spike input of images in NIR's channel-first order, handed on channels-last.

NIR (like torch, snnTorch, Norse) holds an image as (C, H, W); our conv layers take Lava's
(x, y, channel) with x = H, i.e. (H, W, C) flattened. An imported graph whose input is spikes
of multi-channel images (a DVS camera's two polarities, RGB) starts with an
`ImageSpikeSource`: the user keeps feeding the source's (C, H, W) order, and the one
reorder happens here, where the spikes enter, on every path that runs the model (its op,
`SpikeSourceOp.channels_first`, rebuilds this module on the torch backend).
"""

from __future__ import annotations

import math

import torch

from snapdeploy.core.errors import SnapdeployError, SpikeInputError
from snapdeploy.nn.boundary import SpikeSource


def channels_last(spikes: torch.Tensor, channels_first: tuple[int, int, int]) -> torch.Tensor:
    """Spikes [T, batch, C*H*W] flattened from (C, H, W) -> [T, batch, H*W*C] from (H, W, C)."""
    steps, batch, n = spikes.shape
    images = spikes.reshape(steps, batch, *channels_first)
    return images.permute(0, 1, 3, 4, 2).reshape(steps, batch, n)


def image_dims(
    channels_first: tuple[int, int, int], module: str, error: type[SnapdeployError]
) -> tuple[int, ...]:
    """An image module's (C, H, W) as ints, or `error` naming `module` and the fix."""
    dims = tuple(int(d) for d in channels_first)
    if len(dims) != 3 or min(dims) < 1:
        raise error(
            f"{module}(channels_first={channels_first}): give the images' (C, H, W), "
            f"three sizes of at least 1"
        )
    return dims


class ImageSpikeSource(SpikeSource):
    """Event input [batch, T, C*H*W] flattened from (C, H, W) -> spikes [T, batch, H*W*C]
    flattened from (H, W, C), checked as `SpikeSource` checks them."""

    def __init__(self, channels_first: tuple[int, int, int], steps: int):
        dims = image_dims(channels_first, "ImageSpikeSource", SpikeInputError)
        super().__init__(math.prod(dims), steps)
        self.channels_first = dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return channels_last(super().forward(x), self.channels_first)

    def extra_repr(self) -> str:
        return f"channels_first={self.channels_first}, steps={self.steps}"
