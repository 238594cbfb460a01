"""Runtime benchmark: spike bytes vs fp16 tensors per boundary, accuracy, and throughput of the
pipelined runtime in one process vs 3 gloo ranks on 127.0.0.1, all in one run.

The demo model is trained as `snapdeploy demo` trains it (DemoConfig defaults), plus each
`--sparsity` weight given (a proposal for the demo's settings). The fp16 peer is the same
architecture with dense boundaries (64 -> 128 -> 64 -> 10, ReLU), its boundary activations
rounded to fp16; `accuracy_loss_points` is its accuracy minus the deployed spiking model's.
Writes bench/runtime.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from torch import nn

from snapdeploy.bench import write_bench
from snapdeploy.data import digits
from snapdeploy.flow import DemoConfig, run_demo
from snapdeploy.runtime import Deployment

CLI = [sys.executable, "-c", "from snapdeploy.cli import app; app()"]


def fp16_peer_accuracy(config: DemoConfig) -> float:
    """The dense twin of the demo model, trained alike, with fp16 tensors on its two links."""
    data = digits(seed=config.seed)
    torch.manual_seed(config.seed)
    first = nn.Sequential(nn.Linear(64, config.hidden), nn.ReLU())
    middle = nn.Sequential(nn.Linear(config.hidden, config.spiking), nn.ReLU())
    last = nn.Linear(config.spiking, 10)
    model = nn.Sequential(first, middle, last)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    x, y = torch.as_tensor(data.x_train), torch.as_tensor(data.y_train)
    generator = torch.Generator().manual_seed(config.seed)
    for _ in range(config.epochs):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), 64):
            idx = order[start : start + 64]
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        h = first(torch.as_tensor(data.x_test)).half().float()  # link 0 carries fp16
        h = middle(h).half().float()  # link 1 carries fp16
        scores = last(h).numpy()
    return float((scores.argmax(1) == data.y_test).mean())


def throughput(build: Path, inputs: np.ndarray, work: Path, batch_size: int) -> dict:
    """Samples/s of the batch loop in one process and over 3 ranks (start-up excluded)."""
    with Deployment.load(build) as deployment:
        deployment.run(inputs[:batch_size], batch_size, progress=False)  # warm up
        deployment.run(inputs, batch_size, progress=False, run_dir=work / "inproc")
    inproc = json.loads((work / "inproc" / "result.json").read_text())
    np.save(work / "x.npy", inputs)
    subprocess.run(
        [
            *CLI,
            "run",
            str(build),
            "--inputs",
            str(work / "x.npy"),
            "--out",
            str(work / "ranks3"),
            "--ranks",
            "3",
            "--batch-size",
            str(batch_size),
            "--timeout",
            "120",
        ],
        check=True,
        capture_output=True,
    )
    ranks = json.loads((work / "ranks3" / "result.json").read_text())
    same = np.array_equal(
        np.load(work / "inproc" / "outputs.npy"), np.load(work / "ranks3" / "outputs.npy")
    )
    return {
        "samples": len(inputs),
        "batch_size": batch_size,
        "inprocess_samples_per_s": len(inputs) / inproc["run_seconds"],
        "ranks3_samples_per_s": len(inputs) / ranks["run_seconds"],
        "outputs_identical": same,
    }


def measure(config: DemoConfig, peer_accuracy: float, work: Path, repeat: int) -> dict:
    report = run_demo(config, Console(quiet=True), progress=False)
    wire = sum(b["wire_bytes"] for b in report["boundaries"])
    fp16 = sum(b["fp16_bytes"] for b in report["boundaries"])
    deployed = report["headline"]["deployed_accuracy"]
    x = np.tile(digits(seed=config.seed).x_test, (repeat, 1))
    return {
        "sparsity_weight": config.sparsity_weight,
        "steps": config.steps,
        "float_accuracy": report["headline"]["float_accuracy"],
        "deployed_accuracy": deployed,
        "fp16_peer_accuracy": peer_accuracy,
        "accuracy_loss_points": 100 * (peer_accuracy - deployed),
        "bytes_fp16_over_spikes": fp16 / wire,
        "boundaries": [
            {
                k: b[k]
                for k in ("id", "width", "spike_rate", "wire_bytes_per_sample", "fp16_over_spikes")
            }
            | {"fp16_bytes_per_sample": 2 * b["width"]}
            for b in report["boundaries"]
        ],
        **throughput(config.out / "build", x, work, batch_size=64),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sparsity",
        type=float,
        nargs="*",
        default=[],
        help="Extra weights to measure beside the demo's.",
    )
    parser.add_argument(
        "--repeat", type=int, default=4, help="Tile the 450 test digits this often."
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        base = DemoConfig(out=root / "demo")
        peer = fp16_peer_accuracy(base)
        results = [measure(base, peer, root / "w-demo", args.repeat)]
        for weight in sorted(set(args.sparsity) - {base.sparsity_weight}):
            config = replace(base, out=root / f"s{weight}", sparsity_weight=weight)
            results.append(measure(config, peer, root / f"w{weight}", args.repeat))
    demo = results[0]
    headline = {
        "bytes_fp16_over_spikes": demo["bytes_fp16_over_spikes"],
        "accuracy_loss_points": demo["accuracy_loss_points"],
        "ranks3_over_inprocess_throughput": demo["ranks3_samples_per_s"]
        / demo["inprocess_samples_per_s"],
    }
    path = write_bench("runtime", headline, results, ["scikit-learn"])
    print(json.dumps({"headline": headline, "results": results}, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
