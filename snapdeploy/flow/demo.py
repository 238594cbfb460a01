"""The demo flow: the whole of snapdeploy on bundled data, in emulator mode, no hardware.

Train a small hybrid network in float on the 8x8 digits, export it to integers in a .snap
artifact, read it back verified, cut it at its spike boundaries, place and compile it on a
target, run it with spikes carried as packets, and report accuracy and boundary traffic.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from snapdeploy.artifact.model import load_model, save_model
from snapdeploy.compile import compile_graph
from snapdeploy.core.errors import TargetError
from snapdeploy.data import Split, digits
from snapdeploy.nn.demo_net import DemoNet, demo_model
from snapdeploy.nn.hybrid import HybridNet
from snapdeploy.nn.train import accuracy, fit, predict
from snapdeploy.partition.place import spiking_on
from snapdeploy.quant.export import export_model
from snapdeploy.report import build_report, plot_boundaries, write_report
from snapdeploy.runtime import Deployment
from snapdeploy.targets import Target, load_target


@dataclass(frozen=True)
class DemoConfig(DemoNet):
    """The demo network's shape, and how the demo trains, exports and deploys it."""

    out: Path = Path("snapdeploy-out")
    target: str = "emulator"
    backend: str | None = None  # a spiking device kind of the target; None: the first one
    epochs: int = 30
    sparsity_weight: float = 0.1
    weight_bits: int = 8
    seed: int = 0
    limit: int | None = None  # keep only the first N samples (tiny test runs)


def train_demo(config: DemoConfig, data: Split, progress: bool = True) -> tuple[HybridNet, float]:
    """The demo network trained in float on `data`, and its accuracy on the test samples."""
    model = demo_model(config, config.seed)
    fit(
        model,
        data.x_train,
        data.y_train,
        config.epochs,
        sparsity_weight=config.sparsity_weight,
        seed=config.seed,
        progress=progress,
    )
    return model, accuracy(predict(model, data.x_test), data.y_test)


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
    model, float_acc = train_demo(config, data, progress)

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
