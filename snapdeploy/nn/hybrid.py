"""Hybrid networks: dense blocks and spiking blocks in order, joined by spike boundaries.

`HybridNet` flattens its children into one sequence of stages (dense layers, encoders or a
spike source, spiking layers, decoders), which is the order the exporter and the partitioner
walk.
A `SpikingLinear` is a synapse plus a LIF population, with the synapse's one-step delay that
Lava's Dense has, so the float model and the integer neuron agree step for step.
"""

from __future__ import annotations

import torch
from torch import nn

from snapdeploy.nn.boundary import SPIKE_SOURCES, SpikeBoundary, SpikeEncoder
from snapdeploy.nn.lif import LIF


class DenseBlock(nn.Sequential):
    """Dense layers that stay on a GPU or CPU (Linear, Conv2d, ReLU, Flatten, pooling)."""


class SpikingLinear(nn.Module):
    """Dense synapse (no bias: the LIF has it) into LIF neurons; spikes in, spikes out."""

    def __init__(self, n_in: int, n_out: int, du: float = 1.0, dv: float = 0.25, vth: float = 1.0):
        super().__init__()
        self.synapse = nn.Linear(n_in, n_out, bias=False)
        self.lif = LIF(n_out, du=du, dv=dv, vth=vth)
        self.last_rate: torch.Tensor | None = None

    def forward(self, spikes: torch.Tensor) -> torch.Tensor:
        current = self.synapse(spikes)
        delayed = torch.cat([torch.zeros_like(current[:1]), current[:-1]])
        out = self.lif(delayed)
        self.last_rate = out.mean()
        return out


class SpikingBlock(nn.Sequential):
    """Spiking layers that run on a neuromorphic backend (Lava, FPGA, many-core, reference)."""


def flatten_stages(children: list[nn.Module]) -> list[nn.Module]:
    """Blocks and boundaries unrolled into single stages, in execution order."""
    stages: list[nn.Module] = []
    for child in children:
        if isinstance(child, (DenseBlock, SpikingBlock, SpikeBoundary)):
            stages.extend(child)
        else:
            stages.append(child)
    return stages


#: Stages whose output is spikes [T, batch, n].
SPIKING_STAGES = (*SPIKE_SOURCES, SpikingLinear)


class HybridNet(nn.Sequential):
    """Dense and spiking blocks in order; dense input [batch, ...] (or, after a leading
    `SpikeSource`, spikes [batch, T, n]), dense output.

    Consecutive stages pass tensors unchanged, so an encoder emits [T, batch, n] spikes,
    spiking layers keep that shape, and a decoder (or, at the very end, a sum over T)
    brings it back to [batch, n].
    """

    def __init__(self, *blocks: nn.Module, input_shape: tuple[int, ...], steps: int):
        super().__init__(*blocks)
        self.input_shape = tuple(input_shape)
        self.steps = steps

    def stages(self) -> list[nn.Module]:
        return flatten_stages(list(self))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = super().forward(x)
        ends_in_spikes = isinstance(self.stages()[-1], SPIKING_STAGES)
        return out.sum(0) if ends_in_spikes else out

    def spiking_modules(self) -> list[nn.Module]:
        return [m for m in self.stages() if isinstance(m, (SpikeEncoder, SpikingLinear))]

    def sparsity_loss(self) -> torch.Tensor:
        """Mean spike rate over every spiking stage of the last forward: link traffic."""
        rates = [m.last_rate for m in self.spiking_modules() if m.last_rate is not None]
        if not rates:
            raise RuntimeError("sparsity_loss() needs a forward pass through spiking stages")
        return torch.stack(rates).mean()
