"""`snapdeploy deploy`: the run of `snapdeploy run`, after checking every device can serve
the mode: `--emulate` (every device emulated on this machine, also an FPGA whose device names
a bitstream: it runs the C-simulation) or `--board` (real hardware wherever the target names
it; refused, naming the device, where it cannot be reached).
"""

from __future__ import annotations

from pathlib import Path

import typer

from snapdeploy.commands.common import guarded
from snapdeploy.commands.run import (
    BATCH,
    INPUTS,
    OUT,
    RANKS,
    RESUME,
    TIMEOUT,
    RunOptions,
    print_result,
    run_build,
)


def check_board(build: Path) -> None:
    """Refuse `--board`, naming the device, where a device of the build cannot be reached: its
    kind's answer, which for a link kind the kind's backend completes for the compiled
    partition (the rtl backend's `board_problem`: a board top on a link needs its bitstream in
    the manifest; a PYNQ part needs pynq's FPGA and its bitstream, no link)."""
    from snapdeploy.backends import entry
    from snapdeploy.backends.registry import BoardMode
    from snapdeploy.compile import build_target
    from snapdeploy.core.errors import TargetError
    from snapdeploy.runtime.pipeline import read_build

    info = read_build(build)
    target = build_target(build)
    for compiled in info.compiled:
        device = target.device(compiled.device)
        kind = entry(device.kind)
        problem = kind.board_problem(device)
        if kind.board is BoardMode.LINK and device.host is None:  # else its serve host asks
            problem = kind.backend_class().board_problem(compiled, problem)
        if problem:
            raise TargetError(
                f"--board: device '{compiled.device}' of target '{target.name}' {problem}"
            )


def deploy(
    build: Path = typer.Argument(..., help="A build directory from `snapdeploy compile`."),
    emulate: bool = typer.Option(False, "--emulate", help="Every device emulated on this machine."),
    board: bool = typer.Option(False, "--board", help="Real devices where the target names them."),
    inputs: Path = INPUTS,
    out: Path = OUT,
    batch_size: int = BATCH,
    ranks: int = RANKS,
    resume: bool = RESUME,
    timeout: float = TIMEOUT,
) -> None:
    """Check the devices for the mode, then run the build as `snapdeploy run` does."""
    from snapdeploy.backends.base import emulation_mode
    from snapdeploy.core.errors import SnapdeployError

    def body() -> Path | None:
        if emulate == board:
            raise SnapdeployError("choose one of --emulate and --board")
        if board:
            check_board(build)
        with emulation_mode(emulate):
            options = RunOptions(
                inputs=inputs,
                out=out,
                batch_size=batch_size,
                ranks=ranks,
                resume=resume,
                timeout=timeout,
            )
            return run_build(build, options)

    holder = guarded(body)
    if holder is not None:
        print_result(holder)
