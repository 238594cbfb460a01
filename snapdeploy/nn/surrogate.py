"""The spike nonlinearity with a surrogate gradient.

A Heaviside step has zero gradient almost everywhere, so training uses the derivative of a
fast sigmoid instead, the fast sigmoid's: d spike / d x = 1 / (1 + slope * |x|)^2. The slope is 5, not
snnTorch's 25: with thresholds near 1 the narrower window starved the spiking layer of
gradient and the demo net died (all spikes gone) under a sparsity weight as small as 0.02.
"""

from __future__ import annotations

import torch

DEFAULT_SLOPE = 5.0


class _FastSigmoidSpike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, slope: float) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.slope = slope
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad / (1.0 + ctx.slope * x.abs()) ** 2, None


def spike(x: torch.Tensor, slope: float | None = None) -> torch.Tensor:
    """1.0 where x > 0 (strictly, as the integer neuron), with a fast-sigmoid gradient."""
    return _FastSigmoidSpike.apply(x, DEFAULT_SLOPE if slope is None else slope)
