"""`snapdeploy demo`: the whole flow on bundled data, in emulator mode, no hardware.

Train a small hybrid network in float on the 8x8 digits, export it to integers in a .snap
artifact, read it back verified, cut it at its spike boundaries, place and compile it on a
target, run it with spikes carried as packets, and report accuracy and boundary traffic.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from torch import nn

from snapdeploy.artifact.model import load_model, save_model
from snapdeploy.core.errors import TargetError
from snapdeploy.demo.data import digits
from snapdeploy.nn import (
    DenseBlock,
    HybridNet,
    SpikeDecoder,
    SpikeEncoder,
    SpikingBlock,
    SpikingLinear,
)
from snapdeploy.nn.train import accuracy, fit, predict
from snapdeploy.partition.place import spiking_on
from snapdeploy.quant.export import export_model
from snapdeploy.report import build_report, plot_boundaries, write_report
from snapdeploy.runtime import Deployment, compile_graph
from snapdeploy.targets import Target, load_target


@dataclass(frozen=True)
class DemoConfig:
    out: Path = Path("snapdeploy-out")
    target: str = "emulator"
    backend: str | None = None  # a spiking device kind of the target; None: the first one
    epochs: int = 30
    steps: int = 4
    hidden: int = 128
    spiking: int = 64
    sparsity_weight: float = 0.1
    weight_bits: int = 8
    seed: int = 0
    limit: int | None = None  # keep only the first N samples (tiny test runs)


def demo_model(config: DemoConfig) -> HybridNet:
    """Dense 64->hidden, spikes over the link, a spiking layer, spikes back, dense to 10."""
    torch.manual_seed(config.seed)
    t = config.steps
    return HybridNet(
        DenseBlock(nn.Linear(64, config.hidden), nn.ReLU()),
        SpikeEncoder(config.hidden, t),
        SpikingBlock(SpikingLinear(config.hidden, config.spiking)),
        SpikeDecoder(config.spiking, t),
        DenseBlock(nn.Linear(config.spiking, 10)),
        input_shape=(64,),
        steps=t,
    )


def spiking_device(target: Target, backend: str | None) -> str | None:
    """The target's first device of kind `backend`, checked before any work is done."""
    if backend is None:
        return None
    device = target.devices_of_kind(backend)
    if not device:
        kinds = sorted({d.kind for d in target.spiking_devices()})
        raise TargetError(
            f"target '{target.name}' has no '{backend}' device; its spiking kinds are "
            f"{', '.join(kinds)}; fix: choose one of them or a target with a {backend} device"
        )
    return device[0].name


def run_demo(config: DemoConfig, console: Console, progress: bool = True) -> dict[str, Any]:
    """Run the whole flow; write model.snap, build/, report.json and report.png under out."""
    began = time.perf_counter()
    out = config.out
    target = load_target(config.target)
    device = spiking_device(target, config.backend)
    data = digits(seed=config.seed, limit=config.limit)
    console.print(f"[bold]1/5[/] training a hybrid net on {len(data.x_train)} digits (float)")
    model = demo_model(config)
    fit(
        model,
        data.x_train,
        data.y_train,
        config.epochs,
        sparsity_weight=config.sparsity_weight,
        seed=config.seed,
        progress=progress,
    )
    float_acc = accuracy(predict(model, data.x_test), data.y_test)

    console.print(f"[bold]2/5[/] exporting to integers ({config.weight_bits}-bit weights)")
    graph = export_model(model, weight_bits=config.weight_bits)
    artifact_path = save_model(
        out / "model.snap",
        graph,
        {
            "quantization": {
                "method": "post-training",
                "weight_bits": config.weight_bits,
                "dense_bits": 8,
            },
            "float_accuracy": float_acc,
            "dataset": "sklearn digits 8x8",
        },
    )

    console.print(f"[bold]3/5[/] partitioning and compiling for target '{target.name}'")
    graph, _ = load_model(artifact_path)
    build, plan = compile_graph(
        graph,
        target,
        out / "build",
        spiking_on(device) if device else None,
        {"artifact": str(artifact_path)},
    )

    console.print(f"[bold]4/5[/] running the deployment on {len(data.x_test)} test digits")
    with Deployment.load(build) as deployment:
        result = deployment.run(data.x_test, progress=progress)
    deployed_acc = accuracy(result.outputs, data.y_test)

    console.print("[bold]5/5[/] writing the report")
    report = build_report(
        float_acc,
        deployed_acc,
        result,
        plan,
        {
            "target": target.name,
            "artifact": str(artifact_path),
            "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()},
            "test_samples": len(data.y_test),
            "seconds": time.perf_counter() - began,
        },
    )
    write_report(out, report)
    plot_boundaries(result.boundaries, out / "report.png")
    return report
