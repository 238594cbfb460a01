"""Torch layers of hybrid networks: LIF neurons, spike boundaries, dense and spiking blocks."""

from snapdeploy.core.extras import needs

with needs("train", __name__):  # every module here is torch: name the extra before any of them
    import torch  # noqa: F401

from snapdeploy.nn.boundary import SpikeBoundary, SpikeDecoder, SpikeEncoder, SpikeSource
from snapdeploy.nn.cut_boundary import CutBoundary
from snapdeploy.nn.hybrid import (
    DenseBlock,
    HybridNet,
    SpikingBlock,
    SpikingConv,
    SpikingLinear,
)
from snapdeploy.nn.lif import LIF
from snapdeploy.nn.snap_cut import SnapCutNet, snap_cut

__all__ = [
    "LIF",
    "CutBoundary",
    "DenseBlock",
    "HybridNet",
    "SnapCutNet",
    "SpikeBoundary",
    "SpikeDecoder",
    "SpikeEncoder",
    "SpikeSource",
    "SpikingBlock",
    "SpikingConv",
    "SpikingLinear",
    "snap_cut",
]
