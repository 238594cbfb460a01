"""Calls the compiled CPU kernel on contiguous torch tensors (the kernel sees raw pointers)."""

from __future__ import annotations

import math

import torch

from snapdeploy.nn.fused.build import cpu_kernel

SUFFIX = {torch.float32: "f32", torch.float64: "f64"}


def rows_and_neurons(current: torch.Tensor) -> tuple[int, int]:
    """[T, *rows, n] -> (product of the middle dims, n): the kernel's view of the layout."""
    return math.prod(current.shape[1:-1]), current.shape[-1]


def pointer(tensor: torch.Tensor | None) -> int | None:
    return None if tensor is None else tensor.data_ptr()


def forward(
    current: torch.Tensor,
    bias: torch.Tensor,
    vth: torch.Tensor,
    decays: tuple[float, float],
    save: bool,
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor]:
    """Spikes, the saved `v - vth` (None unless `save`), and the final u and v."""
    ku, kv = decays
    rows, n = rows_and_neurons(current)
    spikes = torch.empty_like(current)
    saved = torch.empty_like(current) if save else None
    u_last = current.new_empty(current.shape[1:])
    v_last = current.new_empty(current.shape[1:])
    run = getattr(cpu_kernel(), f"lif_forward_{SUFFIX[current.dtype]}")
    run(
        current.data_ptr(), bias.data_ptr(), spikes.data_ptr(), pointer(saved),
        u_last.data_ptr(), v_last.data_ptr(), current.shape[0], rows, n, ku, kv, vth.item(),
        torch.get_num_threads(),
    )  # fmt: skip
    return spikes, saved, u_last, v_last


def backward(
    saved: torch.Tensor,
    grad_spikes: torch.Tensor,
    grad_u_last: torch.Tensor,
    grad_v_last: torch.Tensor,
    decays: tuple[float, float],
    slope: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradient w.r.t. the current, and per-cell float64 sums over time of the gradients
    w.r.t. the bias and (negated) the threshold."""
    ku, kv = decays
    rows, n = rows_and_neurons(saved)
    grad_current = torch.empty_like(saved)
    cells = saved.new_empty((2, *saved.shape[1:]), dtype=torch.float64)
    run = getattr(cpu_kernel(), f"lif_backward_{SUFFIX[saved.dtype]}")
    run(
        saved.data_ptr(), grad_spikes.data_ptr(), grad_u_last.data_ptr(), grad_v_last.data_ptr(),
        grad_current.data_ptr(), cells[0].data_ptr(), cells[1].data_ptr(),
        saved.shape[0], rows, n, ku, kv, slope, torch.get_num_threads(),
    )  # fmt: skip
    return grad_current, cells[0], cells[1]
