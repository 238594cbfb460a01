"""`snapdeploy compile`: cut a .snap model, place it on a target, compile every partition."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from snapdeploy.commands.common import console, guarded


def compile_model(model: Path, target: str, out: Path, mapping: list[str]) -> Path:
    """Place (target's [mapping], then --map) and compile atomically into `out`."""
    from snapdeploy.artifact.model import load_model
    from snapdeploy.compile import compile_graph
    from snapdeploy.partition.place import parse_mapping
    from snapdeploy.targets import load_target

    loaded = load_target(target)
    graph, _ = load_model(model)
    chosen = loaded.mapping | parse_mapping(mapping)
    return compile_graph(graph, loaded, out, lambda _: chosen, {"artifact": str(model)})[0]


def compile_command(
    model: Path = typer.Argument(..., help="A .snap artifact."),
    target: str = typer.Option(
        "emulator", help="A shipped target name or a path to a target .toml."
    ),
    out: Path = typer.Option(
        Path("build"), "-o", "--out", help="Build directory (replaced atomically)."
    ),
    mapping: list[str] = typer.Option(
        [], "--map", help="PARTITION=DEVICE; repeat; wins over the target's [mapping]."
    ),
) -> None:
    """Compile every partition of MODEL with its device's backend into a build directory."""
    import json

    from snapdeploy.partition.place import PLAN_FILE

    build = guarded(lambda: compile_model(model, target, out, mapping))
    plan = json.loads((build / PLAN_FILE).read_text())
    table = Table(title=f"plan for target '{plan['target']}'")
    for column in ("partition", "kind", "device"):
        table.add_column(column)
    for p in plan["placements"]:
        table.add_row(p["partition"], p["partition_kind"], f"{p['device']} ({p['device_kind']})")
    console.print(table)
    console.print(f"wrote {build}")
