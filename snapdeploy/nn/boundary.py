"""Spike boundaries: where a dense activation leaves one chip as spikes and comes back.

The encoder drives a LIF with the activation as a constant current for T steps; its
threshold is learned (kept positive through exp), and every emitted spike is a packet on the
link, so `sparsity_loss` (the mean spike rate of the last forward) is the term that trades
accuracy for link traffic. Its gradient is the LIF's surrogate by default, or, with
`gradient="rate"`, that of the rate a constant input codes (count / T ~ x / threshold):
the membrane meets the surrogate's window only where the count steps (x near vth / k), so
in between, and across the dead zone below vth / T where most of a cut transformer's
residual stream lies (median |x| 1.6 under a threshold of 6.6 at T=4), it passes 7-60x
less gradient back to the die before the cut than the coded rate's T / vth. The decoder turns spike counts back into an activation with a
learned per-neuron scale. A model whose input is already spikes (event data, e.g. a DVS
camera's) starts with a `SpikeSource` instead of an encoder: it passes the events through,
checked, in the [T, batch, n] layout every spiking stage uses.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from snapdeploy.core.errors import ParameterRangeError, SpikeInputError
from snapdeploy.nn.lif import check_decays, lif_sequence

#: How an encoder's spikes pass gradient back: the LIF's surrogate, or the coded rate's.
GRADIENTS = ("surrogate", "rate")


class RateGradient(torch.autograd.Function):
    """The LIF's spikes unchanged forward; backward, each step's spike as the rate x / vth
    that a constant input x codes (0 outside 0 < x < vth, where the count stays 0 or T)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, vth: torch.Tensor, spikes: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x, vth)
        return spikes

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, None]:  # type: ignore[override]
        x, vth = ctx.saved_tensors
        coded = grad.sum(0) * ((x > 0) & (x < vth)).to(grad.dtype)
        return coded / vth, -(coded * x).sum() / vth**2, None


class SpikeEncoder(nn.Module):
    """Dense [batch, n] -> spikes [T, batch, n]; `gradient` as the module docstring says."""

    def __init__(
        self,
        n: int,
        steps: int,
        threshold: float = 1.0,
        dv: float = 0.0,
        gradient: str = "surrogate",
    ):
        super().__init__()
        check_decays(1.0, dv)
        if gradient not in GRADIENTS:
            raise ParameterRangeError(
                f"encoder gradient '{gradient}' is not one of {', '.join(GRADIENTS)}; fix: "
                f"choose 'surrogate' (the LIF's) or 'rate' (the coded rate's)"
            )
        self.n, self.steps, self.dv, self.gradient = n, steps, dv, gradient
        self.log_threshold = nn.Parameter(torch.tensor(math.log(threshold)))
        self.last_rate: torch.Tensor | None = None

    @property
    def threshold(self) -> torch.Tensor:
        return self.log_threshold.exp()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        current = x.unsqueeze(0).expand(self.steps, *x.shape)
        if self.gradient == "surrogate":
            spikes = lif_sequence(current, 1.0, self.dv, self.threshold)
        else:
            with torch.no_grad():
                coded = lif_sequence(current, 1.0, self.dv, self.threshold)
            spikes = RateGradient.apply(x, self.threshold, coded)
        self.last_rate = spikes.mean()
        return spikes

    def sparsity_loss(self) -> torch.Tensor:
        if self.last_rate is None:
            raise RuntimeError("sparsity_loss() needs a forward pass first")
        return self.last_rate

    def extra_repr(self) -> str:
        return (
            f"n={self.n}, steps={self.steps}, threshold={self.threshold.item():.4g}, "
            f"gradient={self.gradient}"
        )


class SpikeSource(nn.Module):
    """Event input [batch, T, n] of 0/1 values -> spikes [T, batch, n] (same dtype).

    The model's first stage when its input is already spikes: nothing is learned and nothing
    encoded; the spikes are checked (shape, 0/1 values) and moved to time-major order. It adds
    no sparsity term: its spike rate is the data's, which training cannot change.
    """

    def __init__(self, n: int, steps: int):
        super().__init__()
        if n < 1 or steps < 1:
            raise SpikeInputError(f"SpikeSource(n={n}, steps={steps}): both must be at least 1")
        self.n, self.steps = n, steps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 3 or tuple(x.shape[1:]) != (self.steps, self.n):
            raise SpikeInputError(
                f"spike input has shape {tuple(x.shape)}, but this SpikeSource takes [batch, "
                f"{self.steps}, {self.n}] (batch, steps, channels); fix: give {self.steps} "
                f"steps of {self.n} channels per sample, time on axis 1"
            )
        binary = (x == 0) | (x == 1)
        if not bool(binary.all()):
            bad = x[~binary][0].item()
            raise SpikeInputError(
                f"spike input holds {(~binary).sum().item()} values that are not 0 or 1 (e.g. "
                f"{bad:g}); fix: pass events as 0/1 (bool or x > 0), or use a SpikeEncoder "
                f"for dense input"
            )
        return x.transpose(0, 1).contiguous()

    def extra_repr(self) -> str:
        return f"n={self.n}, steps={self.steps}"


class SpikeDecoder(nn.Module):
    """Spikes [T, batch, n] -> dense [batch, n]: counts times a learned per-neuron scale."""

    def __init__(self, n: int, steps: int):
        super().__init__()
        self.n = n
        self.scale = nn.Parameter(torch.full((n,), 1.0 / steps))

    def forward(self, spikes: torch.Tensor) -> torch.Tensor:
        return spikes.sum(0) * self.scale

    def extra_repr(self) -> str:
        return f"n={self.n}"


#: The stages where spikes begin: an encoder (dense input) or a spike source (spike input).
SPIKE_SOURCES = (SpikeEncoder, SpikeSource)


class SpikeBoundary(nn.Sequential):
    """An encoder and its decoder: a SNAP link between two dense blocks with nothing between."""

    def __init__(self, n: int, steps: int, threshold: float = 1.0, dv: float = 0.0):
        super().__init__(SpikeEncoder(n, steps, threshold, dv), SpikeDecoder(n, steps))

    @property
    def encoder(self) -> SpikeEncoder:
        return self[0]

    @property
    def decoder(self) -> SpikeDecoder:
        return self[1]
