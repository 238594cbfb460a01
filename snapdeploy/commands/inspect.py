"""`snapdeploy inspect`: verify a .snap artifact and print its manifest."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from snapdeploy.commands.common import console, guarded


def inspect(path: Path = typer.Argument(..., help="A .snap artifact.")) -> None:
    """Verify a .snap artifact and print its manifest."""
    from snapdeploy.artifact.model import load_model

    _, artifact = guarded(lambda: load_model(path))
    console.print_json(json.dumps(artifact.manifest))
