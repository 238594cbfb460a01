"""`snapdeploy report DIR`: price and plot a run, a demo output or a build, and print the headline."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from snapdeploy.commands.common import console, guarded


def report(
    directory: Path = typer.Argument(
        ..., help="A run (--out of `run`), demo output or build directory."
    ),
) -> None:
    """Write report.json, report.md, plots/*.png and a self-contained report.html into DIR."""
    from snapdeploy.report.document import HTML_FILE, MARKDOWN_FILE, write_full_report
    from snapdeploy.report.markdown import headline_rows

    written = guarded(lambda: write_full_report(directory))
    table = Table(title=f"snapdeploy report: {directory} (energy and latency are estimates)")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for row in headline_rows(written):
        table.add_row(*row)
    console.print(table)
    for line in written["notes"]:
        console.print(f"[yellow]not measured:[/] {line}", soft_wrap=True)
    console.print(
        f"wrote {directory / 'report.json'}, {directory / MARKDOWN_FILE}, "
        f"{directory / HTML_FILE}, {directory / 'plots'}/"
    )
