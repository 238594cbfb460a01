"""Torch layers of hybrid networks: LIF neurons, spike boundaries, dense and spiking blocks."""

from snapdeploy.nn.boundary import SpikeBoundary, SpikeDecoder, SpikeEncoder, SpikeSource
from snapdeploy.nn.hybrid import DenseBlock, HybridNet, SpikingBlock, SpikingLinear
from snapdeploy.nn.lif import LIF

__all__ = [
    "LIF",
    "DenseBlock",
    "HybridNet",
    "SpikeBoundary",
    "SpikeDecoder",
    "SpikeEncoder",
    "SpikeSource",
    "SpikingBlock",
    "SpikingLinear",
]
