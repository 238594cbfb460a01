"""What every subcommand shares: the consoles and the one-line error policy."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from snapdeploy.core.errors import SnapdeployError

console = Console()
err_console = Console(stderr=True)
debug_mode = {"on": False}


def guarded(action: Callable[[], Any]) -> Any:
    """Run a command body, turning a SnapdeployError into one clear line and exit code 1."""
    try:
        return action()
    except SnapdeployError as exc:
        if debug_mode["on"]:
            raise
        err_console.print(
            f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True
        )
        raise typer.Exit(1) from None


class GuardedGroup(TyperGroup):
    """The app's command group: an error raised outside a command's `guarded` body (a missing
    extra met by a command's own imports, say) still prints as one line."""

    def invoke(self, ctx: typer.Context) -> Any:
        return guarded(lambda: super(GuardedGroup, self).invoke(ctx))
