"""`snapdeploy serve`: run one compiled spiking partition for a host, on a board, without torch."""

from __future__ import annotations

from pathlib import Path

import typer

from snapdeploy.commands.common import console, guarded


def serve(
    build: Path = typer.Argument(..., help="A build directory (copied from the host)."),
    partition: str = typer.Option(..., "--partition", help="The spiking partition to serve."),
    bind: str = typer.Option(
        "tcp://127.0.0.1:5555",
        "--bind",
        help="ZeroMQ endpoint to listen on, e.g. tcp://0.0.0.0:5555 (port * = any free one).",
    ),
) -> None:
    """Serve a spiking partition to the host's pipeline over ZeroMQ until interrupted."""
    from snapdeploy.runtime.serve import BoardServer

    server = guarded(lambda: BoardServer(build, partition, bind))
    console.print(f"serving partition '{partition}' on {server.address}", highlight=False)
    try:
        server.serve()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
