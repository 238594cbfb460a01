"""`snapdeploy export`: a .snap artifact as a NIR graph for other frameworks, or (`--format
netx`) its spiking layers as a lava-dl netx network."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from snapdeploy.commands.common import console, guarded


class ExportFormat(str, Enum):
    NIR = "nir"
    NETX = "netx"


def export_nir(
    source: Path = typer.Argument(..., help="A .snap artifact."),
    out: Path = typer.Option(..., "-o", "--out", help="The NIR (or netx .net) file to write."),
    dt: float = typer.Option(1e-4, min=0.0, help="The time step NIR's time constants assume."),
    spiking_part: bool = typer.Option(
        False,
        "--spiking-part",
        help="Only the encoder (or spike source) through the last spiking layer or decoder: "
        "the dense layers around it stay out (NIR has no ReLU, pooling or activation quantizer).",
    ),
    format: ExportFormat = typer.Option(
        ExportFormat.NIR,
        "--format",
        help="nir, or netx: a spike-input model's spiking layers as a lava-dl netx network "
        "(.net) that `snapdeploy import` and lava-dl's netx.hdf5.Network read.",
    ),
) -> None:
    """Write a .snap artifact's model as a NIR graph (integer layers in their own units), or
    its spiking layers as a netx network."""
    if format is ExportFormat.NETX:
        from snapdeploy.commands.export_netx import export_netx

        export_netx(source, out)
        return
    from snapdeploy.artifact.model import load_model
    from snapdeploy.interop import spiking_section, to_nir, write_nir
    from snapdeploy.interop.dequantize import hybrid_from_graph

    def run() -> Path:
        graph, _ = load_model(source)
        net = hybrid_from_graph(graph)
        return write_nir(to_nir(spiking_section(net) if spiking_part else net, dt=dt), out)

    console.print(f"wrote {guarded(run)}")
