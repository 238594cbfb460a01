"""`snapdeploy export`: a .snap artifact as a NIR graph for other frameworks."""

from __future__ import annotations

from pathlib import Path

import typer

from snapdeploy.commands.common import console, guarded


def export_nir(
    source: Path = typer.Argument(..., help="A .snap artifact."),
    out: Path = typer.Option(..., "-o", "--out", help="The NIR file to write."),
    dt: float = typer.Option(1e-4, min=0.0, help="The time step NIR's time constants assume."),
) -> None:
    """Write a .snap artifact's model as a NIR graph (integer layers in their own units)."""
    from snapdeploy.artifact.model import load_model
    from snapdeploy.interop import to_nir, write_nir
    from snapdeploy.interop.dequantize import hybrid_from_graph

    def run() -> Path:
        graph, _ = load_model(source)
        return write_nir(to_nir(hybrid_from_graph(graph), dt=dt), out)

    console.print(f"wrote {guarded(run)}")
