"""The fused LIF on CUDA tensors: the CPU kernel's arithmetic (`lif_cpu.cpp`) in Triton.

Each program owns BLOCK neurons and keeps u and v in registers across all T steps. Products
use round-to-nearest multiplies that the compiler may not fuse into an FMA, so spikes stay
bit-equal to the step loop, whose separate kernels round each product. Decays, threshold
and slope travel as a small device tensor of the input's dtype: no host sync, and float64
inputs keep float64 constants (Triton would pass Python floats as float32).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from triton.language.extra import libdevice

BLOCK = 1024


@triton.jit
def _forward(
    current, bias, params, spikes, saved, u_last, v_last, steps, cells, n,
    SAVE: tl.constexpr, BLOCK: tl.constexpr,
):  # fmt: skip
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < cells
    stride = tl.zeros_like(offs) + cells  # int64, so t * stride cannot overflow
    ku = tl.load(params)
    kv = tl.load(params + 1)
    vth = tl.load(params + 2)
    b = tl.load(bias + offs % n, mask=mask, other=0.0)
    u = tl.zeros([BLOCK], dtype=b.dtype)
    v = tl.zeros([BLOCK], dtype=b.dtype)
    for t in range(steps):
        at = offs + t * stride
        a = tl.load(current + at, mask=mask, other=0.0)
        u = libdevice.mul_rn(u, ku) + a
        w = libdevice.mul_rn(v, kv) + u + b
        x = w - vth
        fire = x > 0
        tl.store(spikes + at, fire.to(b.dtype), mask=mask)
        if SAVE:
            tl.store(saved + at, x, mask=mask)
        v = tl.where(fire, 0.0, w).to(b.dtype)
    tl.store(u_last + offs, u, mask=mask)
    tl.store(v_last + offs, v, mask=mask)


@triton.jit
def _backward(
    saved, grad_spikes, grad_u_last, grad_v_last, grad_current, bias_cells, vth_cells, params,
    steps, cells, BLOCK: tl.constexpr,
):  # fmt: skip
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < cells
    stride = tl.zeros_like(offs) + cells
    ku = tl.load(params)
    kv = tl.load(params + 1)
    slope = tl.load(params + 3)
    gv = tl.load(grad_v_last + offs, mask=mask, other=0.0)
    cu = tl.load(grad_u_last + offs, mask=mask, other=0.0)
    gb = tl.zeros([BLOCK], dtype=tl.float64)
    gth = tl.zeros([BLOCK], dtype=tl.float64)
    for i in range(steps):
        at = offs + (steps - 1 - i) * stride
        x = tl.load(saved + at, mask=mask, other=0.0)
        gs = tl.load(grad_spikes + at, mask=mask, other=0.0)
        d = 1.0 + libdevice.mul_rn(slope, tl.abs(x))
        sg = libdevice.div_rn(gs, libdevice.mul_rn(d, d))
        gw = sg + tl.where(x > 0, 0.0, gv)
        gu = gw + cu
        tl.store(grad_current + at, gu, mask=mask)
        gb += gw.to(tl.float64)
        gth += sg.to(tl.float64)
        gv = libdevice.mul_rn(gw, kv)
        cu = libdevice.mul_rn(gu, ku)
    tl.store(bias_cells + offs, gb, mask=mask)
    tl.store(vth_cells + offs, gth, mask=mask)


def constants(like: torch.Tensor, decays: tuple[float, float], vth: torch.Tensor, slope: float):
    """[ku, kv, vth, slope] on the device in the input's dtype."""
    head = like.new_tensor(decays)
    return torch.cat([head, vth.reshape(1).to(like.dtype), like.new_tensor([slope])])


def forward(
    current: torch.Tensor,
    bias: torch.Tensor,
    vth: torch.Tensor,
    decays: tuple[float, float],
    save: bool,
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor]:
    """Spikes, the saved `v - vth` (None unless `save`), and the final u and v."""
    spikes = torch.empty_like(current)
    saved = torch.empty_like(current) if save else None
    u_last = current.new_empty(current.shape[1:])
    v_last = current.new_empty(current.shape[1:])
    cells = u_last.numel()
    if cells:
        _forward[(triton.cdiv(cells, BLOCK),)](
            current, bias, constants(current, decays, vth, 0.0), spikes,
            spikes if saved is None else saved, u_last, v_last, current.shape[0], cells,
            current.shape[-1], SAVE=saved is not None, BLOCK=BLOCK,
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
    grad_current = torch.empty_like(saved)
    cells = saved.new_empty((2, *saved.shape[1:]), dtype=torch.float64)
    count = cells[0].numel()
    if count:
        _backward[(triton.cdiv(count, BLOCK),)](
            saved, grad_spikes, grad_u_last, grad_v_last, grad_current, cells[0], cells[1],
            constants(saved, decays, saved.new_zeros(()), slope), saved.shape[0], count,
            BLOCK=BLOCK,
        )  # fmt: skip
    return grad_current, cells[0], cells[1]
