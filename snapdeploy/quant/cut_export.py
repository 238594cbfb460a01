"""Export a `SnapCutNet` to the integer `ModelGraph`: dense dies as torch.export programs, each
cut as an encoder, its spiking layers as Lava-form integers, and a decoder.

On the wire a sample is one row of positions x spike width, position-major
(`[batch, positions * width]`), the layout the runtime's frames carry. Each die's program
includes the layout change on its side of a cut: packing its output into a row (splitting
signs) and unpacking decoded values into its input's shape (merging them), so the graph needs
no op beyond the existing encoder, decoder and spiking layers. A boundary's spiking layers act
per position with one weight matrix; they are exported as one Dense layer whose weights are
block-diagonal over the positions (kron(I, W)), which every spiking backend runs unchanged, at
positions^2 times the weight memory (a per-position layer kind in the backend contract would
remove that cost). The first die's program takes float32 (what the runtime feeds) and casts
to the model's input dtype, so token ids (exact in float32 below 2^24) reach an embedding.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from snapdeploy.artifact.program import export_program, program_parts
from snapdeploy.core.errors import ModelStructureError
from snapdeploy.core.graph import DecoderOp, DenseOp, EncoderOp, ModelGraph, Op, SpikingOp
from snapdeploy.nn.cut_boundary import (
    CutBoundary,
    channel_axis,
    from_rows,
    merge_signed,
    split_signed,
    to_rows,
)
from snapdeploy.nn.snap_cut import SnapCutNet
from snapdeploy.quant.export import quantize_spiking_layer


class ToWire(nn.Module):
    """A die's output [batch, ...] -> [batch, positions * width] spike-encoder input."""

    def __init__(self, signed: bool):
        super().__init__()
        self.signed = signed

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = to_rows(x)
        return (split_signed(rows) if self.signed else rows).reshape(x.shape[0], -1)


class FromWire(nn.Module):
    """Decoded [batch, positions * width] -> the next die's input, per sample `shape`."""

    def __init__(self, shape: tuple[int, ...], signed: bool):
        super().__init__()
        self.shape, self.signed = shape, signed
        self.channels = shape[channel_axis((1, *shape), "cut") - 1]

    def forward(self, wire: torch.Tensor) -> torch.Tensor:
        width = 2 * self.channels if self.signed else self.channels
        rows = wire.reshape(-1, width)
        rows = merge_signed(rows, self.channels) if self.signed else rows
        return from_rows(rows, (-1, *self.shape))


class DieProgram(nn.Module):
    """What one die runs: unpack its input (or cast the model's), its stages, pack its output."""

    def __init__(
        self,
        die: nn.Module,
        into: FromWire | None,
        out: ToWire | None,
        input_dtype: torch.dtype | None = None,
    ):
        super().__init__()
        self.die, self.into, self.out, self.input_dtype = die, into, out, input_dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.into is not None:
            x = self.into(x)
        elif self.input_dtype is not None:
            x = x.to(self.input_dtype)
        y = self.die(x)
        return self.out(y) if self.out is not None else y


def _array(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().astype(np.float64)


def boundary_ops(name: str, boundary: CutBoundary, positions: int, weight_bits: int) -> list[Op]:
    """Encoder, block-diagonal spiking layers and decoder of one cut over `positions`."""
    encoder = boundary.encoder
    n = positions * encoder.n
    values = positions * boundary.channels  # the crossing tensor's, whatever the coding
    ops: list[Op] = [
        EncoderOp(
            f"{name}_encoder", n, boundary.steps, encoder.threshold.item(), encoder.dv, values
        )
    ]
    eye = np.eye(positions)
    for i, layer in enumerate(boundary.layers):
        lif = layer.lif
        bias = _array(lif.bias) if lif.bias is not None else np.zeros(lif.n)
        params = quantize_spiking_layer(
            f"{name}_layer{i}",
            np.kron(eye, _array(layer.synapse.weight)),
            lif.vth.item(),
            np.tile(bias, positions),
            lif.du,
            lif.dv,
            weight_bits,
        )
        ops.append(SpikingOp(f"{name}_layer{i}", params))
    scale = np.tile(boundary.decoder.scale.detach().cpu().numpy(), positions).astype(np.float32)
    ops.append(DecoderOp(f"{name}_decoder", n, scale))
    return ops


def die_inputs(net: SnapCutNet, example: torch.Tensor) -> list[torch.Tensor]:
    """What each die receives on `example` (dense, eval mode): their shapes fix the wire."""
    values = [example]
    with torch.no_grad():
        for die in net.dies[:-1]:
            values.append(die(values[-1]))
    return values


def export_cut(net: SnapCutNet, example: torch.Tensor, weight_bits: int = 8) -> ModelGraph:
    """The integer graph of a trained `SnapCutNet`, its dies exported on `example`'s shapes."""
    if not isinstance(example, torch.Tensor):
        raise ModelStructureError(
            f"export_cut takes the model's one input tensor as example, got "
            f"{type(example).__name__}; fix: give a model with one input one example batch"
        )
    modes = {m: m.training for m in net.modules()}
    net.eval()
    try:
        inputs = die_inputs(net, example)
        ops: list[Op] = []
        last = len(net.dies) - 1
        for k, die in enumerate(net.dies):
            before = net.boundaries[k - 1] if k else None
            after = net.boundaries[k] if k < last else None
            into = FromWire(tuple(inputs[k].shape[1:]), before.signed) if before else None
            program = DieProgram(
                die,
                into,
                ToWire(after.signed) if after else None,
                None if k or example.dtype == torch.float32 else example.dtype,
            )
            wire_in = program_input(inputs[k], before)
            exported = export_program(program, (wire_in,), dynamic_batch=True)
            with torch.no_grad():
                wire_out = program(wire_in)
            attrs = {
                "input_shape": list(wire_in.shape[1:]),
                "output_shape": list(wire_out.shape[1:]),
            }
            ops.append(DenseOp(f"die{k}", "program", attrs, program_parts(f"die{k}", exported)))
            if after is not None:
                positions = int(np.prod(to_rows(inputs[k + 1]).shape[0])) // len(example)
                ops += boundary_ops(f"cut{k}", after, positions, weight_bits)
    finally:
        for module, mode in modes.items():
            module.train(mode)
    return ModelGraph(tuple(ops), tuple(example.shape[1:]), net.boundaries[0].steps)


def program_input(value: torch.Tensor, before: CutBoundary | None) -> torch.Tensor:
    """A die program's example input: the model input as float32, or the wire's rows."""
    if before is None:
        return value.to(torch.float32)
    rows = to_rows(value)
    wire = split_signed(rows) if before.signed else rows
    return wire.reshape(value.shape[0], -1).to(torch.float32)
