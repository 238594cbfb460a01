"""Hybrid networks: dense blocks and spiking blocks in order, joined by spike boundaries.

`HybridNet` flattens its children into one sequence of stages (dense layers, encoders or a
spike source, spiking layers, decoders), which is the order the exporter and the partitioner
walk.
A `SpikingLinear` is a synapse plus a LIF population, with the synapse's one-step delay that
Lava's Dense has, so the float model and the integer neuron agree step for step; a
`SpikingConv` is the same with a convolution (Lava's Conv) as its synapse.
"""

from __future__ import annotations

import torch
from torch import nn

from snapdeploy.core.conv import output_size
from snapdeploy.nn.boundary import SPIKE_SOURCES, SpikeBoundary, SpikeEncoder
from snapdeploy.nn.lif import LIF


class DenseBlock(nn.Sequential):
    """Dense layers that stay on a GPU or CPU (Linear, Conv2d, ReLU, Flatten, pooling)."""


class SpikingLinear(nn.Module):
    """Dense synapse (no bias: the LIF has it) into LIF neurons; spikes in, spikes out."""

    def __init__(
        self,
        n_in: int,
        n_out: int,
        du: float = 1.0,
        dv: float = 0.25,
        vth: float = 1.0,
        reset: str = "zero",
    ):
        super().__init__()
        self.synapse = nn.Linear(n_in, n_out, bias=False)
        self.lif = LIF(n_out, du=du, dv=dv, vth=vth, reset=reset)
        self.last_rate: torch.Tensor | None = None

    def forward(self, spikes: torch.Tensor) -> torch.Tensor:
        out = self.lif(delayed(self.synapse(spikes)))
        self.last_rate = out.mean()
        return out


def delayed(current: torch.Tensor) -> torch.Tensor:
    """The synapse's one-step delay (Lava's Dense and Conv send last step's sums)."""
    return torch.cat([torch.zeros_like(current[:1]), current[:-1]])


Pair = int | tuple[int, int]


class SpikingConv(nn.Module):
    """Conv synapse (no bias: the LIF has it) into LIF neurons; spikes in, spikes out.

    Spikes are images in Lava's (x, y, channel) layout, flattened in C order: [T, batch,
    X * Y * C_in] in, [T, batch, X' * Y' * C_out] out, neuron for neuron the integer
    `ConvSynapse`'s order. The synapse is a torch `Conv2d` with x as its first spatial axis
    and y as its second (so `stride`, `padding`, ... are (x, y) pairs); torch correlates,
    and export flips the kernel into Lava's convolving one. Its input must be channels-last:
    a spike source of such images or another SpikingConv. An encoder fed a flattened torch
    activation [N, C, H, W] emits channel-first spikes, which a SpikingConv right after it
    would read as a different image (no exported dense op reorders them).
    """

    def __init__(
        self,
        input_shape: tuple[int, int, int],
        out_channels: int,
        kernel_size: Pair,
        stride: Pair = 1,
        padding: Pair = 0,
        dilation: Pair = 1,
        groups: int = 1,
        du: float = 1.0,
        dv: float = 0.25,
        vth: float = 1.0,
        reset: str = "zero",
    ):
        super().__init__()
        self.input_shape = tuple(int(d) for d in input_shape)
        self.synapse = nn.Conv2d(
            self.input_shape[2], out_channels, kernel_size, stride, padding, dilation, groups,
            bias=False,
        )  # fmt: skip
        c = self.synapse
        xy = [
            output_size(self.input_shape[a], c.kernel_size[a], c.stride[a], c.padding[a],
                        c.dilation[a])
            for a in (0, 1)
        ]  # fmt: skip
        self.output_shape = (xy[0], xy[1], out_channels)
        self.lif = LIF(xy[0] * xy[1] * out_channels, du=du, dv=dv, vth=vth, reset=reset)
        self.last_rate: torch.Tensor | None = None

    def forward(self, spikes: torch.Tensor) -> torch.Tensor:
        steps, batch = spikes.shape[:2]
        images = spikes.reshape(steps * batch, *self.input_shape).permute(0, 3, 1, 2)
        current = self.synapse(images).permute(0, 2, 3, 1).reshape(steps, batch, -1)
        out = self.lif(delayed(current))
        self.last_rate = out.mean()
        return out

    def extra_repr(self) -> str:
        return f"input_shape={self.input_shape}, output_shape={self.output_shape}"


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
SPIKING_STAGES = (*SPIKE_SOURCES, SpikingLinear, SpikingConv)


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
        return [
            m for m in self.stages() if isinstance(m, (SpikeEncoder, SpikingLinear, SpikingConv))
        ]

    def sparsity_loss(self) -> torch.Tensor:
        """Mean spike rate over every spiking stage of the last forward: link traffic."""
        rates = [m.last_rate for m in self.spiking_modules() if m.last_rate is not None]
        if not rates:
            raise RuntimeError("sparsity_loss() needs a forward pass through spiking stages")
        return torch.stack(rates).mean()
