"""An encoder of images in NIR's channel-first order whose spikes come out channels-last.

A NIR graph's dense side (an RGB CSNN's first Conv2d + pool, as snnTorch, SpikingJelly and
Norse write it) hands the encoder an image in NIR's (C, H, W) order; our conv layers take
(H, W, C) flattened (Lava's (x, y, channel), x = H). The reorder sits here, on the encoder's
spikes, rather than in the dense side: the encoder's LIF is elementwise with one threshold and
one leak for every neuron, so reordering its spikes equals reordering its input and nothing of
its own has to follow the permutation, whereas a dense side ending in a Conv2d or pool has no
op that could carry it (a reorder op would be one more dense op for every backend and the QAT
twin to learn). Its op, `EncoderOp.channels_first`, rebuilds this module on the torch backend.
"""

from __future__ import annotations

import math

from torch import Tensor

from snapdeploy.core.errors import ParameterRangeError
from snapdeploy.nn.boundary import SpikeEncoder
from snapdeploy.nn.image_source import channels_last, image_dims


class ImageSpikeEncoder(SpikeEncoder):
    """Dense [batch, C*H*W] flattened from (C, H, W) -> spikes [T, batch, H*W*C] flattened
    from (H, W, C): a `SpikeEncoder` (same threshold, leak, gradient) with its spikes reordered."""

    def __init__(
        self,
        channels_first: tuple[int, int, int],
        steps: int,
        threshold: float = 1.0,
        dv: float = 0.0,
        gradient: str = "surrogate",
    ):
        dims = image_dims(channels_first, "ImageSpikeEncoder", ParameterRangeError)
        super().__init__(math.prod(dims), steps, threshold, dv, gradient)
        self.channels_first = dims

    def forward(self, x: Tensor) -> Tensor:
        return channels_last(super().forward(x), self.channels_first)

    def extra_repr(self) -> str:
        return f"channels_first={self.channels_first}, {super().extra_repr()}"
