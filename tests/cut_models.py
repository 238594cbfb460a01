"""The die-cut tests' models: the small GPT-style model and residual CNN of `snapdeploy.nn.zoo`
at test sizes, and a model whose top-level forward has a skip connection across its stages."""

from __future__ import annotations

import torch
from torch import nn

from snapdeploy.nn.zoo import gpt as tiny_gpt
from snapdeploy.nn.zoo import resnet as tiny_resnet

__all__ = ["LongSkip", "tiny_gpt", "tiny_resnet"]


class LongSkip(nn.Module):
    """A top-level residual from `stem` around `middle` and `tail`: a cut before `tail` spans it
    (a cut before `middle` does not: the one value crossing it feeds both ends)."""

    def __init__(self, d: int = 8):
        super().__init__()
        self.stem, self.middle, self.tail = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
        self.head = nn.Linear(d, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        return self.head(self.tail(self.middle(h)) + h)
