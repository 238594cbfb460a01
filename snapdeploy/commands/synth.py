"""`snapdeploy synth BUILD --part P`: synthesize, place and route a build's RTL cores."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from snapdeploy.commands.common import console, guarded


def synth(
    build: Path = typer.Argument(..., help="A build directory with partitions on an rtl device."),
    part: str = typer.Option(..., help="xc7z020 (yosys only), lfe5u-85f or up5k."),
    place: bool = typer.Option(
        True, help="Place, route and pack where the part has an open flow (ECP5, iCE40)."
    ),
    bitstreams: Path | None = typer.Option(
        None, help="Where bitstreams and their manifest go (default: the package's)."
    ),
    board: bool = typer.Option(
        False,
        help="The core inside its board's top: on xc7z020 the PYNQ-Z2's Zynq top (AXI4 "
        "master), on up5k the iCEBreaker's (UART link, SPRAM buffers, pins), else the "
        "ULX3S's (UART link, block RAM buffers, pins).",
    ),
    seed: list[int] = typer.Option(
        [1],
        help="nextpnr placement seed; repeat it to try several and keep the best Fmax (every "
        "seed's Fmax goes into the report and the manifest).",
    ),
) -> None:
    """Report utilization (yosys), and for ECP5/iCE40 Fmax and a bitstream (nextpnr)."""
    from snapdeploy.backends.fpga.board import BITSTREAMS_DIR
    from snapdeploy.backends.rtl.bitstreams import synthesize_build

    reports = guarded(
        lambda: synthesize_build(build, part, place, bitstreams or BITSTREAMS_DIR, board, seed)
    )
    table = Table(title=f"snapdeploy synth: {build} for {part} (utilization counted by yosys)")
    for column in ("partition", "LUT", "FF", "DSP", "block RAM", "Fmax MHz", "bitstream"):
        table.add_column(column)
    for report in reports:
        used = report["utilization"]
        ram = next(f"{v:g} {k}" for k, v in used.items() if k.startswith(("bram", "ebr")))
        fmax = "-"
        if "fmax_mhz" in report:
            fmax = f"{report['fmax_mhz']:.1f} (seed {report['seed']} of {len(report['seeds'])})"
        table.add_row(
            report["partition"],
            f"{used['lut']:g}",
            f"{used['ff']:g}",
            f"{used['dsp']:g}",
            ram,
            fmax,
            report.get("recorded", report.get("not_placed", "none (no open flow for this part)")),
        )
    console.print(table)
