"""The fused multi-step LIF as an autograd Function: one kernel walks all T steps forward,
one walks them back, instead of a handful of small ops per step.

It computes what `snapdeploy.nn.lif.lif_sequence` computes (same spikes, bit for bit; the
same surrogate gradient) and keeps for backward one [T, ..., n] tensor (the input current on
CPU, `v - vth` per step on CUDA), not the loop's per-step graph. CPU tensors run the C++
kernel (`lif_cpu.cpp`), CUDA tensors the Triton one. Subtract reset runs on the CPU kernel
only: the Triton kernel has never run on a GPU here and resets to zero.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import torch
from torch.autograd.function import once_differentiable

from snapdeploy.nn.fused.build import FusedLIFError
from snapdeploy.nn.surrogate import DEFAULT_SLOPE

DTYPES = (torch.float32, torch.float64)


def backend(device: torch.device) -> ModuleType:
    if device.type == "cuda":
        from snapdeploy.nn.fused import triton_lif

        return triton_lif
    from snapdeploy.nn.fused import cpu

    return cpu


class FusedLIF(torch.autograd.Function):
    """Inputs: current [T, ..., n] and bias [n] (contiguous, one dtype), vth 0-dim, and
    whether the neuron resets by subtraction (CPU only).

    On CUDA forward stores `v - vth` per step for backward; on CPU backward re-runs the
    steps from the input current instead (a read of the current costs less there than
    writing and reading one more [T, ..., n] tensor), so it saves the current and the bias.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        current: torch.Tensor,
        vth: torch.Tensor,
        bias: torch.Tensor,
        decays: tuple[float, float],
        slope: float,
        subtract: bool,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        kernels = backend(current.device)
        save = any(ctx.needs_input_grad[:3])
        if current.device.type != "cuda":  # the C++ kernel: backward replays the steps
            threshold = vth.item()
            spikes, u_last, v_last = kernels.forward(current, bias, threshold, decays, subtract)
            ctx.save_for_backward(*((current, bias) if save else ()))
            ctx.vth_value = threshold
        else:
            spikes, saved, u_last, v_last = kernels.forward(current, bias, vth, decays, save)
            ctx.save_for_backward(saved)
        ctx.decays, ctx.slope, ctx.kernels, ctx.subtract = decays, slope, kernels, subtract
        ctx.vth_shape = vth.shape
        return spikes, u_last, v_last

    @staticmethod
    @once_differentiable
    def backward(  # type: ignore[override]
        ctx: Any,
        grad_spikes: torch.Tensor | None,
        grad_u_last: torch.Tensor | None,
        grad_v_last: torch.Tensor | None,
    ) -> tuple[torch.Tensor | None, ...]:
        saved = ctx.saved_tensors
        if hasattr(ctx, "vth_value"):
            current, bias = saved
            grad_current, bias_cells, vth_cells = ctx.kernels.backward(
                current, bias, ctx.vth_value, grad_spikes, grad_u_last, grad_v_last,
                ctx.decays, ctx.slope, ctx.subtract,
            )  # fmt: skip
        else:
            (current,) = saved
            state = current.shape[1:]
            grads = [
                torch.zeros_like(current) if grad_spikes is None else grad_spikes.contiguous(),
                current.new_zeros(state) if grad_u_last is None else grad_u_last.contiguous(),
                current.new_zeros(state) if grad_v_last is None else grad_v_last.contiguous(),
            ]
            grad_current, bias_cells, vth_cells = ctx.kernels.backward(
                current, *grads, ctx.decays, ctx.slope
            )
        need_current, need_vth, need_bias = ctx.needs_input_grad[:3]
        grad_vth = (-vth_cells.sum()).to(current.dtype).reshape(ctx.vth_shape)
        grad_bias = bias_cells.reshape(-1, current.shape[-1]).sum(0).to(current.dtype)
        return (
            grad_current if need_current else None,
            grad_vth if need_vth else None,
            grad_bias if need_bias else None,
            None,
            None,
            None,
        )


def fused_supported(
    current: torch.Tensor, vth: torch.Tensor, bias: torch.Tensor | float, reset: str = "zero"
) -> bool:
    """Whether `fused_lif` takes these arguments (else `lif_sequence`'s step loop does)."""
    bias_ok = not isinstance(bias, torch.Tensor) or (
        bias.dtype == current.dtype and bias.device == current.device and bias.dim() <= 1
        and bias.numel() in (1, current.shape[-1])
    )  # fmt: skip
    return (
        current.dim() >= 2
        and current.dtype in DTYPES
        and current.device.type in ("cpu", "cuda")
        and (reset == "zero" or (reset == "subtract" and current.device.type == "cpu"))
        and isinstance(vth, torch.Tensor)
        and vth.numel() == 1
        and vth.dtype == current.dtype
        and vth.device == current.device
        and bias_ok
    )


def fused_lif(
    current: torch.Tensor,
    du: float,
    dv: float,
    vth: torch.Tensor,
    bias: torch.Tensor | float = 0.0,
    slope: float = DEFAULT_SLOPE,
    return_state: bool = False,
    reset: str = "zero",
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """`lif_sequence` in one kernel: spikes [T, ..., n] from zero state, or with
    `return_state` (spikes, u, v) where u and v are the final state (differentiable)."""
    if not fused_supported(current, vth, bias, reset):
        raise FusedLIFError(
            f"fused_lif: unsupported arguments (current {tuple(current.shape)} "
            f"{current.dtype} on {current.device}, vth {getattr(vth, 'shape', vth)}); it takes "
            f"float32/float64 [T, ..., n] on CPU or CUDA (subtract reset: CPU only), a "
            f"one-element vth and a per-neuron or scalar bias of the same dtype; fix: use "
            f"lif_sequence for anything else"
        )
    n = current.shape[-1]
    if isinstance(bias, torch.Tensor):
        bias_n = bias.reshape(-1).expand(n).contiguous()
    else:
        bias_n = current.new_full((n,), bias)
    spikes, u_last, v_last = FusedLIF.apply(
        current.contiguous(),
        vth.reshape(()),
        bias_n,
        (1.0 - du, 1.0 - dv),
        slope,
        reset == "subtract",
    )
    return (spikes, u_last, v_last) if return_state else spikes
