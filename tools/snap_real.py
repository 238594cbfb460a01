"""The real models of the SNAP evaluation and what one setting measures on them.

tools/snap_eval.py (the evaluation: sweeps, pricing, plots, docs/snap_eval.md,
bench/snap_real.json) imports this. Two tasks, each a pretrained dense model of
`snapdeploy.nn.zoo` and the cut points for 2 and 4 dies:
- lm: a byte-level GPT trained on the Python standard library's own source (held-out bits
  per byte; one wire row is one sequence of tokens);
- cnn: a residual CNN with BatchNorm on Fashion-MNIST (Debian's `dataset-fashion-mnist`;
  test accuracy on all 10k test images; one wire row is one image).
A setting (the dense model fine-tuned, int8/int4 boundaries, SNAP spike boundaries) is
fine-tuned from the pretrained model as many steps as the others, then measured: quality,
training step time, and per sample (token or image) each die's MACs (torch's FLOP counter),
the boundary's own work and the bits each link carries in every encoding
(`snapdeploy.report.wire`: spikes as per-step frames, as per-window counts and, for a
signed cut's encoder spikes, as per-window signed counts, headers included; dense values
as fp16, int8, int4).
"""

from __future__ import annotations

import copy
import math
import statistics
import sys
import sysconfig
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from snapdeploy.data import fashion_mnist
from snapdeploy.nn import SnapCutNet, snap_cut
from snapdeploy.nn.cut_boundary import channel_axis
from snapdeploy.nn.int_boundary import IntBoundary, int_cut
from snapdeploy.nn.zoo import gpt, resnet
from snapdeploy.report.chiplet import CutCounts
from snapdeploy.report.count_coder import CountTable, coded_count_bytes, fit_table
from snapdeploy.report.counts import Work, flop_macs
from snapdeploy.report.wire import (
    count_message_bytes,
    frame_bytes,
    signed_count_message_bytes,
)

#: Dense encodings of a cut's activation and their bits per value.
DENSE_BITS = {"fp16": 16, "int8": 8, "int4": 4}


@dataclass
class Task:
    """A pretrained model, its data, its quality metric and where it is cut."""

    name: str
    unit: str  # what one sample is: "token" or "image"
    metric: str  # "bits/byte" (lower is better) or "accuracy %" (higher is better)
    model: nn.Sequential
    batch: Callable[[torch.Generator], tuple[torch.Tensor, torch.Tensor]]
    loss: Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]
    quality: Callable[[nn.Module], float]
    probe: torch.Tensor  # held-out inputs whose boundary traffic is measured
    per_row: int  # samples per input row (tokens per sequence, 1 image)
    cuts: dict[int, list[int]]  # dies -> stage indices to cut before
    source: dict[str, Any] = field(default_factory=dict)
    pretrain_s: float = 0.0

    def cost(self, dense: float, cut: float) -> float:
        """What the cut loses: bits per byte gained, or points of accuracy lost."""
        return cut - dense if self.metric == "bits/byte" else dense - cut


def corpus(total: int) -> tuple[bytes, dict[str, Any]]:
    """The first `total` bytes of the stdlib's top-level .py files in name order."""
    root = sysconfig.get_paths()["stdlib"]
    files, chunks, size = [], [], 0
    for path in sorted(Path(root).glob("*.py")):
        data = path.read_bytes()
        files.append(path.name)
        chunks.append(data)
        size += len(data)
        if size >= total:
            break
    version = ".".join(map(str, sys.version_info[:3]))
    text = b"".join(chunks)[:total]
    info = {"root": f"Python {version}'s standard library", "files": len(files)}
    return text, info | {"first": files[0], "last": files[-1], "bytes": len(text)}


#: Training steps before any is timed (allocator and thread-pool warm-up).
UNTIMED_STEPS = 3


def step(
    model: nn.Module, opt: torch.optim.Optimizer, task: Task, batch: tuple, sparsity: float
) -> None:
    """One Adam step on `batch`: task loss + sparsity x spike rate."""
    loss = task.loss(model, *batch)
    if sparsity:
        loss = loss + sparsity * model.sparsity_loss()
    opt.zero_grad()
    loss.backward()
    opt.step()


def train(
    model: nn.Module, task: Task, steps: int, lr: float, gen: torch.Generator, sparsity: float = 0
) -> float:
    """Adam steps on random batches (+ sparsity x spike rate); seconds per step after the
    untimed ones."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    began = time.perf_counter()
    for k in range(steps):
        if k == UNTIMED_STEPS:
            began = time.perf_counter()
        step(model, opt, task, task.batch(gen), sparsity)
    return (time.perf_counter() - began) / max(steps - UNTIMED_STEPS, 1)


def step_times(task: Task, settings: list[Setting], steps: int, lr: float) -> list[float]:
    """Median seconds per training step of each setting's model, their steps interleaved (one
    of each in turn, on the same batch), so a change in the shared machine's load falls on
    all of them alike; fine-tuning times settings one after another."""
    nets = [build(task, s).train() for s in settings]
    opts = [torch.optim.Adam(net.parameters(), lr=lr) for net in nets]
    times: list[list[float]] = [[] for _ in settings]
    gen = torch.Generator().manual_seed(2)
    for k in range(steps + UNTIMED_STEPS):
        batch = task.batch(gen)
        for net, opt, setting, out in zip(nets, opts, settings, times):
            began = time.perf_counter()
            step(net, opt, task, batch, setting.sparsity)
            if k >= UNTIMED_STEPS:
                out.append(time.perf_counter() - began)
    return [statistics.median(t) for t in times]


def lm_task(d: int, layers: int, train_bytes: int, test_bytes: int, steps: int, lr: float):
    """The byte GPT (4 heads, context 64, batch 32), pretrained `steps` steps."""
    context, batch = 64, 32
    text, source = corpus(train_bytes + test_bytes)
    data = torch.tensor(np.frombuffer(text, dtype=np.uint8).astype(np.int64))
    train_data, test_data = data[:train_bytes], data[train_bytes:]
    n = (len(test_data) - 1) // context
    held = torch.stack([test_data[i * context : i * context + context + 1] for i in range(n)])

    def sample(gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        starts = torch.randint(0, len(train_data) - context - 1, (batch,), generator=gen)
        seqs = torch.stack([train_data[s : s + context + 1] for s in starts.tolist()])
        return seqs[:, :-1], seqs[:, 1:]

    def loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(model(x).flatten(0, 1), y.flatten())

    @torch.no_grad()
    def quality(model: nn.Module) -> float:
        model.eval()
        total = sum(loss(model, c[:, :-1], c[:, 1:]).item() * len(c) for c in held.split(64))
        return total / len(held) / math.log(2)

    torch.manual_seed(0)
    model = gpt(256, d, 4, layers, context, dropout=0.0)
    # stages: embed, block0..block{layers-1}, head; 2 dies: halfway; 4 dies: quarters
    cuts = {2: [1 + layers // 2], 4: [1 + layers * k // 4 for k in (1, 2, 3)]}
    task = Task(
        "lm",
        "token",
        "bits/byte",
        model,
        sample,
        loss,
        quality,
        held[:64, :-1],
        context,
        cuts,
        source | {"test_bytes": test_bytes, "d": d, "layers": layers},
    )
    task.pretrain_s = steps * train(model, task, steps, lr, torch.Generator().manual_seed(0))
    return task


def cnn_task(width: int, train_images: int, steps: int, lr: float, test_images: int = 10000):
    """The residual CNN (stem, two residual stages, head; batch 64), pretrained `steps` steps."""
    data = fashion_mnist(limit=max(train_images, test_images))
    x_train = torch.from_numpy(data.x_train[:train_images])
    y_train = torch.from_numpy(data.y_train[:train_images])
    x_test = torch.from_numpy(data.x_test[:test_images])
    y_test = torch.from_numpy(data.y_test[:test_images])

    def sample(gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.randint(0, len(x_train), (64,), generator=gen)
        return x_train[idx], y_train[idx]

    def loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(model(x), y)

    @torch.no_grad()
    def quality(model: nn.Module) -> float:
        model.eval()
        hits = sum(
            int((model(x).argmax(1) == y).sum())
            for x, y in zip(x_test.split(500), y_test.split(500))
        )
        return 100.0 * hits / len(x_test)

    torch.manual_seed(0)
    model = resnet(10, width)
    source = {
        "data": "Fashion-MNIST (Debian dataset-fashion-mnist)",
        "train_images": len(x_train),
        "test_images": len(x_test),
        "width": width,
    }
    task = Task(
        "cnn",
        "image",
        "accuracy %",
        model,
        sample,
        loss,
        quality,
        x_test[:256],
        1,
        {2: [2], 4: [1, 2, 3]},
        source,
    )
    task.pretrain_s = steps * train(model, task, steps, lr, torch.Generator().manual_seed(0))
    return task


@dataclass(frozen=True)
class Setting:
    """One way to send the cut: `kind` dense / int / snap, and its parameters."""

    kind: str
    dies: int = 2
    bits: int = 0  # int boundaries
    steps: int = 0  # SNAP: T
    sparsity: float = 0.0
    hidden: tuple[int, ...] = ()  # SNAP: a spiking projection's width
    gradient: str = "surrogate"  # SNAP: how the encoder trains (snapdeploy.nn.SpikeEncoder)

    @property
    def label(self) -> str:
        if self.kind == "dense":
            return f"dense, {self.dies} dies"
        if self.kind == "int":
            return f"int{self.bits} boundary"
        proj = f", projection {self.hidden[0]}" if self.hidden else ""
        grad = f", {self.gradient} gradient" if self.gradient != "surrogate" else ""
        return f"SNAP T={self.steps}, w={self.sparsity:g}{proj}{grad}"


def build(task: Task, setting: Setting) -> SnapCutNet:
    """A fresh copy of the pretrained model cut as `setting` says."""
    model = copy.deepcopy(task.model)
    example = task.probe[:8]
    net = snap_cut(
        model,
        cuts=task.cuts[setting.dies],
        steps=max(setting.steps, 1),
        example=example,
        hidden=setting.hidden,
        gradient=setting.gradient,
    )
    if setting.kind == "dense":
        return net.set_spiking(False)
    if setting.kind == "int":
        return int_cut(net, setting.bits)
    return net


def run_setting(
    task: Task, setting: Setting, finetune: int, lr: float, order: int = 1
) -> dict[str, Any]:
    """Fine-tune the setting's model on batch order `order` (every setting sees the same
    batches in one order), then measure quality, step time and counts."""
    net = build(task, setting)
    gen = torch.Generator().manual_seed(order)
    step_s = train(net, task, finetune, lr, gen, setting.sparsity)
    quality = task.quality(net)
    counts, traffic = measure_counts(task, net)
    return {
        "setting": setting,
        "label": setting.label,
        "quality": quality,
        "step_s": step_s,
        "counts": counts,
        **traffic,
    }


#: Training batches whose boundary spikes fit each coded-count table (never the probe), and
#: the seed of their batch order (apart from every fine-tuning order).
TABLE_BATCHES = 4
TABLE_SEED = 1000


def cut_pass(net: SnapCutNet, x: torch.Tensor, run_die: Callable) -> tuple[list, list, list]:
    """`x` through the cut net die by die: per die what `run_die(die, x)` returns as
    (figure, output), per boundary the values crossing it, and per spike boundary
    (its index, the module, its input, its stage spikes)."""
    figures, crossing, spiking = [], [], []
    for k, die in enumerate(net.dies):
        figure, x = run_die(die, x)
        figures.append(figure)
        if k == len(net.boundaries):
            break
        boundary = net.boundaries[k]
        crossing.append(x)
        if isinstance(boundary, IntBoundary) or not net.spiking:
            x = boundary(x) if net.spiking else x
            continue
        stages = boundary.stage_spikes(x)
        spiking.append((k, boundary, x, stages))
        x = boundary.decode(stages[-1], x.shape)
    return figures, crossing, spiking


def link_window(boundary: nn.Module, x: torch.Tensor, stages: list) -> tuple[np.ndarray, tuple]:
    """What a spike boundary's link carries for input `x`: bool [T, samples, *grid, width]
    (grid: the positions of one sample, e.g. its tokens or its pixels) and that grid."""
    wire = stages[boundary.link_stage].bool()
    axis = channel_axis(x.shape, "coded counts")
    grid = tuple(s for i, s in enumerate(x.shape) if i not in (0, axis))
    return wire.reshape(wire.shape[0], len(x), *grid, -1).numpy(), grid


def coded_signed(boundary: nn.Module) -> bool:
    """Whether a boundary's link spikes are a signed encoder's (one half of each pair silent)."""
    return boundary.signed and boundary.link_stage == 0


@torch.no_grad()
def fit_tables(task: Task, net: SnapCutNet) -> dict[int, CountTable]:
    """Per spike boundary, its coded-count table fitted on TABLE_BATCHES training batches."""
    net.eval()
    gen = torch.Generator().manual_seed(TABLE_SEED)
    windows: dict[int, list[np.ndarray]] = {}
    shapes: dict[int, tuple] = {}
    for _ in range(TABLE_BATCHES):
        x, _ = task.batch(gen)
        for k, boundary, inp, stages in cut_pass(net, x, lambda die, v: (None, die(v)))[2]:
            window, grid = link_window(boundary, inp, stages)
            windows.setdefault(k, []).append(window)
            shapes[k] = (boundary, grid)
    return {
        k: fit_table(windows[k], boundary.steps, coded_signed(boundary), grid)
        for k, (boundary, grid) in shapes.items()
    }


@torch.no_grad()
def measure_counts(task: Task, net: SnapCutNet) -> tuple[dict[str, CutCounts], dict[str, Any]]:
    """Per-sample counts of every encoding this net's links can be priced in, from one pass
    of the probe: die MACs, the boundary's own work, and link bits (coded counts against
    tables fitted on training batches)."""
    net.eval()
    samples = len(task.probe) * task.per_row
    figures, crossing, spiking = cut_pass(net, task.probe, flop_macs)
    tables = fit_tables(task, net) if spiking else {}
    values = [x[0].numel() * len(x) / samples for x in crossing]
    frames, counts, signed, coded, work, rates = [], [], [], [], [], []
    for k, boundary, x, stages in spiking:
        wire = stages[boundary.link_stage].bool()
        rows = wire.reshape(wire.shape[0], len(task.probe), -1).numpy()
        frames.append(8 * frame_bytes(rows, k) / samples)
        counts.append(8 * count_message_bytes(rows, k) / samples)
        if coded_signed(boundary):  # one spike per value's pair
            signed.append(8 * signed_count_message_bytes(wire.numpy(), k) / samples)
        coded.append(
            8 * coded_count_bytes(tables[k], link_window(boundary, x, stages)[0], k) / samples
        )
        work.append(boundary_work(boundary, stages, samples))
        rates.append(float(wire.float().mean()))
    macs = tuple(m / samples for m in figures)
    priced = {
        name: CutCounts(macs, tuple(v * bits for v in values)) for name, bits in DENSE_BITS.items()
    }
    if frames:
        priced["frames"] = CutCounts(macs, tuple(frames), tuple(work))
        priced["counts"] = CutCounts(macs, tuple(counts), tuple(work))
        priced["coded counts"] = CutCounts(macs, tuple(coded), tuple(work))
    if signed and len(signed) == len(frames):
        priced["signed counts"] = CutCounts(macs, tuple(signed), tuple(work))
    table_bytes = [len(tables[k].to_bytes()) for k, *_ in spiking]
    return priced, {"values_per_sample": values, "spike_rate": rates, "table_bytes": table_bytes}


def boundary_work(boundary: nn.Module, stages: list[torch.Tensor], samples: int) -> Work:
    """What a spike boundary computes per sample on the dies beside its link: encoder LIF
    updates, each spiking layer's synaptic events and updates, the decoder's adds and scales."""
    steps = stages[0].shape[0]
    updates = sum(s[0].numel() for s in stages) * steps
    events = sum(
        float(s_in.sum()) * layer.synapse.out_features
        for s_in, layer in zip(stages, boundary.layers)
    )
    adds = float(stages[-1].sum())
    return Work(
        "boundary",
        "dense",
        "",
        "torch",
        steps,
        macs=stages[-1][0].numel() / samples,
        accumulates=(events + adds) / samples,
        neuron_updates=updates / samples,
    )
