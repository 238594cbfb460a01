"""The demo's network: a small hybrid net for the bundled 8x8 digits, built from nn's blocks.

It lives in nn, below quant and the flow, because the demo flow and `snapdeploy train` build
it to train it, and `snapdeploy quantize` rebuilds it from the shape a model file records.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from snapdeploy.nn.boundary import SpikeDecoder, SpikeEncoder
from snapdeploy.nn.hybrid import DenseBlock, HybridNet, SpikingBlock, SpikingLinear


@dataclass(frozen=True)
class DemoNet:
    """The settings that fix the network's shape: what a model file must record to rebuild it."""

    steps: int = 4
    hidden: int = 128
    spiking: int = 64


def demo_model(net: DemoNet, seed: int = 0) -> HybridNet:
    """Dense 64->hidden, spikes over the link, a spiking layer, spikes back, dense to 10."""
    torch.manual_seed(seed)
    t = net.steps
    return HybridNet(
        DenseBlock(nn.Linear(64, net.hidden), nn.ReLU()),
        SpikeEncoder(net.hidden, t),
        SpikingBlock(SpikingLinear(net.hidden, net.spiking)),
        SpikeDecoder(net.spiking, t),
        DenseBlock(nn.Linear(net.spiking, 10)),
        input_shape=(64,),
        steps=t,
    )
