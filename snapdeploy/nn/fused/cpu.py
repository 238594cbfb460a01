"""Calls the compiled CPU kernel on contiguous torch tensors (the kernel sees raw pointers).

Backward re-runs the forward steps from the saved input current (see lif_cpu.cpp), so
forward stores nothing but its outputs.
"""

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
    vth: float,
    decays: tuple[float, float],
    subtract: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Spikes and the final u and v (`subtract`: reset by subtracting the threshold)."""
    ku, kv = decays
    rows, n = rows_and_neurons(current)
    spikes = torch.empty_like(current)
    u_last = current.new_empty(current.shape[1:])
    v_last = current.new_empty(current.shape[1:])
    run = getattr(cpu_kernel(), f"lif_forward_{SUFFIX[current.dtype]}")
    run(
        current.data_ptr(), bias.data_ptr(), spikes.data_ptr(), u_last.data_ptr(),
        v_last.data_ptr(), current.shape[0], rows, n, ku, kv, vth, int(subtract),
        torch.get_num_threads(),
    )  # fmt: skip
    return spikes, u_last, v_last


def uniform_value(tensor: torch.Tensor) -> float | None:
    """The one value of a tensor expanded from a single element (every stride 0), else None:
    the gradient of spikes.sum() is one, and the kernel takes it as a scalar."""
    if tensor.numel() and all(stride == 0 for stride in tensor.stride()):
        return tensor[(0,) * tensor.dim()].item()
    return None


def backward(
    current: torch.Tensor,
    bias: torch.Tensor,
    vth: float,
    grad_spikes: torch.Tensor | None,
    grad_u_last: torch.Tensor | None,
    grad_v_last: torch.Tensor | None,
    decays: tuple[float, float],
    slope: float,
    subtract: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradient w.r.t. the current, and float64 partial sums ([chunks, n]) of the gradients
    w.r.t. the bias and (negated) the threshold. None gradients count as zero."""
    ku, kv = decays
    rows, n = rows_and_neurons(current)
    suffix = SUFFIX[current.dtype]
    kernel = cpu_kernel()
    steps = current.shape[0]
    grad_current = torch.empty_like(current)
    chunks = getattr(kernel, f"lif_backward_cells_{suffix}")(steps, rows, n)
    cells = current.new_empty((2, chunks, n), dtype=torch.float64)
    if grad_spikes is None:
        grad_spike: float | None = 0.0
    else:
        grad_spike = uniform_value(grad_spikes)
        if grad_spike is None:
            grad_spikes = grad_spikes.contiguous()
    grad_u_last = None if grad_u_last is None else grad_u_last.contiguous()
    grad_v_last = None if grad_v_last is None else grad_v_last.contiguous()
    getattr(kernel, f"lif_backward_{suffix}")(
        current.data_ptr(), bias.data_ptr(),
        None if grad_spike is not None else grad_spikes.data_ptr(), grad_spike or 0.0,
        pointer(grad_u_last), pointer(grad_v_last), grad_current.data_ptr(),
        cells[0].data_ptr(), cells[1].data_ptr(), steps, rows, n, ku, kv, vth, slope,
        int(subtract), torch.get_num_threads(),
    )  # fmt: skip
    return grad_current, cells[0], cells[1]
