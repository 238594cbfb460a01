"""`snapdeploy demo`: the whole flow on bundled data, no hardware, and its tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from snapdeploy.commands.common import console, guarded


def demo_tables(report: dict[str, Any]) -> tuple[Table, Table]:
    """The headline figures, and one row per boundary with its measured traffic."""
    head = report["headline"]
    ratio = head["boundary_bytes_fp16_over_spikes"]
    summary = Table(title="snapdeploy demo: float model vs integer deployment")
    summary.add_column("float accuracy", justify="right")
    summary.add_column(f"deployed accuracy ({report['target']})", justify="right")
    summary.add_column("fp16 bytes / spike bytes", justify="right")
    summary.add_row(
        f"{head['float_accuracy']:.2%}",
        f"{head['deployed_accuracy']:.2%}",
        "n/a" if ratio is None else f"{ratio:.2f}x",
    )
    links = Table(title="spikes per boundary (bytes on the wire, headers included)")
    for column in ("boundary", "from -> to", "spike rate", "spike B/sample", "fp16 B/sample"):
        links.add_column(column, justify="right" if "B/" in column or "rate" in column else "left")
    for b in report["boundaries"]:
        links.add_row(
            str(b["id"]),
            f"{b['from']} -> {b['to']}",
            f"{b['spike_rate']:.1%}",
            f"{b['wire_bytes_per_sample']:.0f}",
            f"{2 * b.get('values', b['width'])}",
        )
    return summary, links


def demo(
    out: Path = typer.Option(
        Path("snapdeploy-out"), help="Folder for model.snap, build/, report.json, report.png."
    ),
    target: str = typer.Option(
        "emulator", help="A shipped target name or a path to a target .toml."
    ),
    backend: str = typer.Option(
        None, help="Run spiking partitions on the target's device of this kind."
    ),
    epochs: int = typer.Option(30, min=1, help="Float training epochs."),
    steps: int = typer.Option(4, min=2, help="Time steps per sample."),
    tiny: bool = typer.Option(False, help="A seconds-long run on 300 samples (for tests)."),
) -> None:
    """Train, export, partition, deploy and report a hybrid net on bundled digits, no hardware."""
    from snapdeploy.flow import DemoConfig, run_demo

    config = DemoConfig(out=out, target=target, backend=backend, epochs=epochs, steps=steps)
    if tiny:
        config = DemoConfig(
            out=out,
            target=target,
            backend=backend,
            epochs=min(epochs, 3),
            steps=steps,
            hidden=32,
            spiking=16,
            limit=300,
        )
    report = guarded(lambda: run_demo(config, console))
    for table in demo_tables(report):
        console.print(table)
    console.print(f"wrote {out / 'report.json'}, {out / 'report.png'}, {out / 'model.snap'}")
