"""`snapdeploy export`: a .snap artifact as a NIR graph for other frameworks."""

from __future__ import annotations

from pathlib import Path

import typer

from snapdeploy.commands.common import console, guarded


def export_nir(
    source: Path = typer.Argument(..., help="A .snap artifact."),
    out: Path = typer.Option(..., "-o", "--out", help="The NIR file to write."),
    dt: float = typer.Option(1e-4, min=0.0, help="The time step NIR's time constants assume."),
    spiking_part: bool = typer.Option(
        False,
        "--spiking-part",
        help="Only the encoder (or spike source) through the last spiking layer or decoder: "
        "the dense layers around it stay out (NIR has no ReLU, pooling or activation quantizer).",
    ),
) -> None:
    """Write a .snap artifact's model as a NIR graph (integer layers in their own units)."""
    from snapdeploy.artifact.model import load_model
    from snapdeploy.interop import spiking_section, to_nir, write_nir
    from snapdeploy.interop.dequantize import hybrid_from_graph

    def run() -> Path:
        graph, _ = load_model(source)
        net = hybrid_from_graph(graph)
        return write_nir(to_nir(spiking_section(net) if spiking_part else net, dt=dt), out)

    console.print(f"wrote {guarded(run)}")
