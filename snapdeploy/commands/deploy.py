"""`snapdeploy deploy`: the run of `snapdeploy run`, after checking every device can serve
the mode: `--emulate` (every device emulated on this machine, also an FPGA whose device names
a bitstream: it runs the C-simulation) or `--board` (real hardware wherever the target names
it; refused, naming the device, where it cannot be reached).
"""

from __future__ import annotations

import importlib.util
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
    print_result,
    run_build,
)


def board_problem(device) -> str | None:
    """Why `device` cannot run as real hardware here, or None when it can."""
    if device.kind == "torch":
        return None
    if device.kind == "hls":
        if device.bitstream is None:
            return "names no bitstream; fix: build one into bitstreams/ and set bitstream ="
        if importlib.util.find_spec("pynq") is None:
            return (
                "needs pynq, which is not installed (it runs on the board); fix: run on the board"
            )
        return None
    if device.kind == "lava" and device.run_config == "hw":
        return None
    return f"is kind '{device.kind}', which this machine only emulates; fix: use --emulate"


def emulation_problem(device) -> str | None:
    """Why `device` cannot be emulated, or None."""
    if device.kind == "lava" and device.run_config == "hw":
        return "asks for Loihi hardware (run_config = 'hw'); fix: set run_config = 'sim'"
    return None


def check_mode(build: Path, board: bool) -> None:
    import json

    from snapdeploy.core.errors import TargetError
    from snapdeploy.runtime.build import BUILD_FILE
    from snapdeploy.runtime.pipeline import read_build
    from snapdeploy.targets import load_target

    info = read_build(build)
    target = load_target(Path(json.loads((build / BUILD_FILE).read_text())["target_path"]))
    check = board_problem if board else emulation_problem
    for name in dict.fromkeys(info.devices):
        problem = check(target.device(name))
        if problem:
            mode = "--board" if board else "--emulate"
            raise TargetError(f"{mode}: device '{name}' of target '{target.name}' {problem}")


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
        check_mode(build, board)
        with emulation_mode(emulate):
            return run_build(
                build, inputs, out, batch_size, ranks, None, None, None, resume, timeout
            )

    holder = guarded(body)
    if holder is not None:
        print_result(holder)
