"""Operation counts per partition and traffic per boundary, from a build and a measured run.

The energy model prices counts, so they come from what ran: MACs from the compiled dense
layers' shapes, synaptic events from the spikes the runtime counted into each spiking
partition times the fan-out of its synapses, neuron updates from neurons times steps, and
the bytes each boundary carried on the wire. What the runtime does not record (spikes of a
spiking partition's inner layers) is named in `unmeasured`, never filled in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from snapdeploy.backends import get_backend
from snapdeploy.compile import BUILD_FILE
from snapdeploy.core.extras import needs
from snapdeploy.core.graph import DecoderOp, DenseOp, EncoderOp
from snapdeploy.partition import DensePartition, SpikingPartition
from snapdeploy.partition.place import PLAN_FILE
from snapdeploy.runtime import BoundaryStats
from snapdeploy.runtime.pipeline import read_build
from snapdeploy.targets import Target
from snapdeploy.targets.spec import DeviceSpec

with needs("train", __name__):
    import torch
    from torch import nn
    from torch.utils.flop_counter import FlopCounterMode

    from snapdeploy.artifact.program import ProgramModule


@dataclass(frozen=True)
class Work:
    """What one partition computes per sample (means over the measured samples)."""

    partition: str
    kind: str  # "dense" or "spiking"
    device: str
    device_kind: str
    steps: int
    macs: float = 0.0  # multiply-accumulates (dense layers, decoder scales)
    accumulates: float = 0.0  # adds without a multiply (a decoder counting spikes)
    neuron_updates: float = 0.0  # LIF updates (encoder neurons, spiking neurons) over all steps
    synaptic_events: float = 0.0  # spike x synapse deliveries
    packets: float = 0.0  # spikes leaving the partition's neurons (SpiNNaker multicast packets)
    fpga_cycles_per_step: float | None = None  # FPGA cores: cycles per step at the measured events
    unmeasured: tuple[str, ...] = ()


@dataclass(frozen=True)
class Traffic:
    """What crossed one boundary, as the runtime counted it on the wire."""

    boundary: int
    src_device: str
    dst_device: str
    has_link: bool
    width: int
    steps: int
    samples: int = 0
    packets: int = 0
    wire_bytes: int = 0
    spikes: int = 0
    spikes_per_step: list[int] = field(default_factory=list)
    values: int | None = None  # dense values per sample the spikes stand for (None: width)

    @property
    def wire_bits_per_sample(self) -> float | None:
        """Spike bits per sample on the wire, headers included; None when nothing ran."""
        return 8 * self.wire_bytes / self.samples if self.samples else None

    def dense_bits_per_sample(self, bits: int) -> int:
        """What one sample's activation would cost as `bits`-bit values (fp16: 16, int8: 8)."""
        return bits * (self.width if self.values is None else self.values)

    @property
    def spikes_per_sample(self) -> float:
        return self.spikes / self.samples if self.samples else 0.0


def flop_macs(module: nn.Module, *inputs: torch.Tensor) -> tuple[float, torch.Tensor]:
    """MACs of one call of any module (a die of a cut model, an exported program): half the
    FLOPs torch's counter finds in its matmuls, convolutions and attention; and the output."""
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        out = module(*inputs)
    return counter.get_total_flops() / 2, out


def program_macs(
    module: ProgramModule, input_shape: tuple[int, ...]
) -> tuple[float, tuple[int, ...]]:
    """MACs of one sample through a die's program (no Linear modules are left in an exported
    graph, so the Linear hooks of `module_macs` would find none)."""
    macs, out = flop_macs(module, torch.zeros((1, *input_shape)))
    return macs, tuple(out.shape[1:])


def module_macs(module: nn.Module, input_shape: tuple[int, ...]) -> tuple[float, tuple[int, ...]]:
    """MACs of one sample through `module` (its Linear and Conv2d layers) and its output shape."""
    if isinstance(module, ProgramModule):
        return program_macs(module, input_shape)
    total = [0.0]

    def count(layer: nn.Module, _: object, output: torch.Tensor) -> None:
        if isinstance(layer, nn.Linear):
            total[0] += output[0].numel() * layer.in_features
        elif isinstance(layer, nn.Conv2d):
            kh, kw = layer.kernel_size
            total[0] += output[0].numel() * (layer.in_channels // layer.groups) * kh * kw

    hooks = [
        m.register_forward_hook(count)
        for m in module.modules()
        if isinstance(m, (nn.Linear, nn.Conv2d))
    ]
    try:
        with torch.no_grad():
            out = module(torch.zeros((1, *input_shape)))
    finally:
        for hook in hooks:
            hook.remove()
    return total[0], tuple(out.shape[1:])


def dense_work(
    partition: DensePartition,
    input_shape: tuple[int, ...],
    spikes_in: float,
    placement: dict[str, str],
) -> Work:
    """A dense partition: its layers' MACs; a decoder adds up spikes and scales each neuron;
    an encoder updates each of its LIF neurons on every step (a spike source computes
    nothing: it passes the input's spikes on)."""
    from snapdeploy.backends.torch_dense import dense_module

    macs = accumulates = updates = 0.0
    shape = input_shape
    for op in partition.ops:
        if isinstance(op, DecoderOp):
            accumulates += spikes_in
            macs += op.n
            shape = (op.n,)
        elif isinstance(op, EncoderOp):
            updates += op.n * op.steps
        elif isinstance(op, DenseOp):
            layer_macs, shape = module_macs(dense_module(op), shape)
            macs += layer_macs
    return Work(
        partition.name,
        "dense",
        placement["device"],
        placement["device_kind"],
        partition.steps,
        macs=macs,
        accumulates=accumulates,
        neuron_updates=updates,
    )


def spiking_work(
    partition: SpikingPartition,
    spikes_in: float,
    spikes_out: float,
    placement: dict[str, str],
    device: DeviceSpec,
) -> Work:
    """A spiking partition: the first layer's synaptic events are its measured input spikes
    times the mean fan-out of its synapses (non-zero weights per input); inner layers' input
    spikes are not recorded by the runtime, so their events are left out and named."""
    first = partition.layers[0]
    fan_out = first.synapses / max(first.n_in, 1)
    steps = partition.steps
    cycles = get_backend(device.kind).cycles_per_step(partition, device, spikes_in / steps)
    return Work(
        partition.name,
        "spiking",
        placement["device"],
        placement["device_kind"],
        steps,
        neuron_updates=float(partition.n_neurons * steps),
        synaptic_events=spikes_in * fan_out,
        packets=spikes_out,
        fpga_cycles_per_step=cycles,
        unmeasured=tuple(
            f"synaptic events into layer '{op.name}' (its input spikes stay inside "
            f"the partition, which the runtime does not record)"
            for op in partition.ops[1:]
        ),
    )


def stats_traffic(stats: list[BoundaryStats], plan: dict) -> list[Traffic]:
    """Traffic of each planned boundary; a boundary the run did not report carried nothing."""
    by_id = {s.boundary_id: s for s in stats}
    traffic = []
    for b in plan["boundaries"]:
        s = by_id.get(b["id"])
        common = {
            "boundary": b["id"],
            "src_device": b["src_device"],
            "dst_device": b["dst_device"],
            "has_link": b["has_link"],
            "width": b["width"],
            "steps": b["steps"],
            "values": b.get("values"),
        }
        if s is None:
            traffic.append(Traffic(**common, spikes_per_step=[0] * b["steps"]))
            continue
        traffic.append(
            Traffic(
                **common,
                samples=s.samples,
                packets=s.packets,
                wire_bytes=s.wire_bytes,
                spikes=s.spikes,
                spikes_per_step=[int(v) for v in s.spikes_per_step],
            )
        )
    return traffic


def measure(
    build_dir: Path, stats: list[BoundaryStats], target: Target
) -> tuple[list[Work], list[Traffic]]:
    """Per-sample work of every partition of a build, and each boundary's measured traffic."""
    info = read_build(build_dir)
    plan = json.loads((Path(build_dir) / PLAN_FILE).read_text())
    record = json.loads((Path(build_dir) / BUILD_FILE).read_text())
    traffic = stats_traffic(stats, plan)
    spikes = [t.spikes_per_sample for t in traffic]
    work = []
    for index, compiled in enumerate(info.compiled):
        placement = plan["placements"][index]
        spikes_in = spikes[index - 1] if index > 0 else 0.0
        spikes_out = spikes[index] if index < len(spikes) else 0.0
        if placement["partition_kind"] == "dense":
            partition = DensePartition.load(compiled.path, compiled.partition, index)
            shape = tuple(record["input_shape"]) if index == 0 else ()
            work.append(dense_work(partition, shape, spikes_in, placement))
        else:
            partition = SpikingPartition.load(compiled.path, compiled.partition, index)
            device = target.device(placement["device"])
            work.append(spiking_work(partition, spikes_in, spikes_out, placement, device))
    return work, traffic
