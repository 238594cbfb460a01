"""The torch backend: dense partitions on a GPU when one is present, else the CPU.

A dense partition is rebuilt from its artifact ops as ordinary torch modules with the
exported integer weights times their scales, and the same `SpikeEncoder`/`SpikeDecoder`
modules the float model trained with, so encoding and decoding match training exactly; a
spike source is the `SpikeSource` module, which checks the event input and passes it on.
Dense partitions hold no state between calls (an encoder runs all T steps from one input).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from snapdeploy.artifact.program import ProgramModule, program_from_parts
from snapdeploy.backends.base import COMPILED_FILE, CompiledPartition
from snapdeploy.core.errors import BackendError, TargetError
from snapdeploy.core.extras import needs
from snapdeploy.core.graph import SPIKE_SOURCES, DecoderOp, DenseOp, EncoderOp, Op, SpikeSourceOp
from snapdeploy.nn.boundary import SpikeDecoder, SpikeEncoder, SpikeSource
from snapdeploy.nn.image_encoder import ImageSpikeEncoder
from snapdeploy.nn.image_source import ImageSpikeSource
from snapdeploy.partition.partitions import DensePartition
from snapdeploy.targets.spec import TorchDevice

with needs("train", __name__):
    import torch
    from torch import nn


def _dequantized(op: DenseOp) -> torch.Tensor:
    weight = op.tensors["weight"].astype(np.float32)
    scale = op.tensors["weight_scale"].reshape((-1,) + (1,) * (weight.ndim - 1))
    return torch.from_numpy(weight * scale)


def _load_weights(module: nn.Linear | nn.Conv2d, op: DenseOp) -> nn.Module:
    with torch.no_grad():
        module.weight.copy_(_dequantized(op))
        if module.bias is not None:
            module.bias.copy_(torch.from_numpy(op.tensors["bias"]))
    return module


class QuantAct(nn.Module):
    """An activation fake-quantized as Brevitas does: clamp(round(x / scale)) * scale.

    Division (not multiplication by 1/scale) and torch.round (half to even) match Brevitas'
    float32 arithmetic bit for bit, so an encoder sees exactly the QAT twin's input.
    """

    def __init__(self, bits: int, scale: float, signed: bool):
        super().__init__()
        self.low = -(1 << (bits - 1)) if signed else 0
        self.high = (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1
        self.register_buffer("scale", torch.tensor(scale, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp(torch.round(x / self.scale), self.low, self.high) * self.scale

    def extra_repr(self) -> str:
        return f"range=[{self.low}, {self.high}], scale={self.scale.item():.4g}"


def quant_act_module(op: DenseOp) -> QuantAct:
    bits, scale = op.attrs["bits"], op.attrs["scale"]
    if not 2 <= bits <= 16 or not scale > 0:
        raise BackendError(
            f"quant_act '{op.name}' has bits={bits}, scale={scale}; bits must lie in 2..16 and "
            f"the scale be positive; fix: re-export the model"
        )
    return QuantAct(bits, scale, bool(op.attrs["signed"]))


def dense_module(op: DenseOp) -> nn.Module:
    """The torch module an exported dense op stands for."""
    has_bias = "bias" in op.tensors
    if op.op == "linear":
        n_out, n_in = op.tensors["weight"].shape
        return _load_weights(nn.Linear(n_in, n_out, bias=has_bias), op)
    if op.op == "conv2d":
        n_out, n_in_per_group, kh, kw = op.tensors["weight"].shape
        a = op.attrs
        conv = nn.Conv2d(
            n_in_per_group * a["groups"],
            n_out,
            (kh, kw),
            stride=tuple(a["stride"]),
            padding=tuple(a["padding"]),
            dilation=tuple(a["dilation"]),
            groups=a["groups"],
            bias=has_bias,
        )
        return _load_weights(conv, op)
    if op.op == "relu":
        return nn.ReLU()
    if op.op == "flatten":
        return nn.Flatten(op.attrs["start_dim"], op.attrs["end_dim"])
    if op.op in ("maxpool2d", "avgpool2d"):
        pool = nn.MaxPool2d if op.op == "maxpool2d" else nn.AvgPool2d
        return pool(op.attrs["kernel_size"], op.attrs["stride"], op.attrs["padding"])
    if op.op == "quant_act":
        return quant_act_module(op)
    if op.op == "program":  # a die of an arbitrary model, as a torch.export program
        return ProgramModule(program_from_parts(f"dense op '{op.name}'", op.tensors))
    raise BackendError(f"dense op '{op.name}' has unknown type '{op.op}'")


def op_module(op: Op) -> nn.Module:
    if isinstance(op, EncoderOp):
        encoder = (
            SpikeEncoder(op.n, op.steps, threshold=1.0, dv=op.dv)
            if op.channels_first is None
            else ImageSpikeEncoder(op.channels_first, op.steps, threshold=1.0, dv=op.dv)
        )
        encoder.log_threshold.data.fill_(math.log(op.threshold))
        return encoder
    if isinstance(op, SpikeSourceOp):
        if op.channels_first is not None:
            return ImageSpikeSource(op.channels_first, op.steps)
        return SpikeSource(op.n, op.steps)
    if isinstance(op, DecoderOp):
        decoder = SpikeDecoder(op.n, 1)
        decoder.scale.data.copy_(torch.from_numpy(op.scale))
        return decoder
    return dense_module(op)


class TorchExecutor:
    """Runs a dense partition: floats or spikes in, floats or spikes out."""

    def __init__(self, partition: DensePartition, device: str):
        self.device = torch.device(device)
        self.module = nn.Sequential(*(op_module(op) for op in partition.ops)).to(self.device).eval()
        self.emits_spikes = partition.emits_spikes

    @torch.no_grad()
    def run(self, inputs: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.float32)).to(self.device)
        out = self.module(x).cpu().numpy()
        return out.astype(bool) if self.emits_spikes else out

    def reset(self) -> None:
        """Nothing to clear: a dense partition keeps no state between calls."""

    def close(self) -> None:
        self.module = nn.Sequential()


class TorchBackend:
    kind = "torch"

    def compile(self, partition: DensePartition, device, out: Path) -> CompiledPartition:
        out.mkdir(parents=True, exist_ok=True)
        partition.save(out)
        first, last = partition.ops[0], partition.ops[-1]
        compiled = CompiledPartition(
            kind=self.kind,
            partition=partition.name,
            device=device.name,
            path=out,
            n_in=first.n if isinstance(first, DecoderOp) else 0,
            n_out=last.n if isinstance(last, SPIKE_SOURCES) else 0,
            meta={"index": partition.index, "torch_device": device.resolve()},
        )
        compiled.save()
        return compiled

    def load(self, compiled: CompiledPartition) -> TorchExecutor:
        partition = DensePartition.load(compiled.path, compiled.partition, compiled.meta["index"])
        # the recorded device is checked as a target's would be: one this machine has
        try:
            device = TorchDevice(name=compiled.device, device=compiled.meta.get("torch_device"))
            resolved = device.resolve()
        except TargetError as exc:
            raise BackendError(
                f"partition '{compiled.partition}' ({compiled.path / COMPILED_FILE}, "
                f"torch_device): {exc}"
            ) from exc
        return TorchExecutor(partition, resolved)
