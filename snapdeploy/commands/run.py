"""`snapdeploy run`: run a build on inputs, in this process or as ranks of torch.distributed.

`--ranks N` starts N ranks on this host (127.0.0.1); on many hosts start each rank yourself
with `--rank R --world W --master HOST:PORT` (or under torchrun, which sets RANK and
WORLD_SIZE). `--resume` continues a run directory from its last completed batch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import typer
from rich.table import Table

from snapdeploy.commands.common import console, guarded

INPUTS = typer.Option(
    None,
    help="Samples [N, ...] as .npy (read by rank 0): floats, or 0/1 spikes [N, T, n] for a spike-input model.",
)
OUT = typer.Option(
    Path("run"), "-o", "--out", help="Run directory: outputs, per-batch state, result.json."
)
BATCH = typer.Option(256, min=1, help="Samples per batch (the unit of --resume).")
RANKS = typer.Option(1, min=1, help="Start this many ranks on this host (one per device group).")
RANK = typer.Option(None, help="This process's rank (multi-host form).")
WORLD = typer.Option(None, help="Number of ranks (multi-host form).")
MASTER = typer.Option(None, help="HOST:PORT of rank 0's rendezvous (multi-host form).")
RESUME = typer.Option(False, help="Continue OUT from its last completed batch.")
TIMEOUT = typer.Option(60.0, min=1.0, help="Seconds to wait for a peer before naming it lost.")


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    """How to run a build, as the flags of `run` and `deploy` give it (the flags hold defaults).

    `rank`, `world` and `master` are the multi-host form, which only `run` offers.
    """

    inputs: Path | None
    out: Path
    batch_size: int
    ranks: int
    resume: bool
    timeout: float
    rank: int | None = None
    world: int | None = None
    master: str | None = None


def check_inputs(inputs: Path | None) -> None:
    """The inputs file this process reads is given and exists."""
    from snapdeploy.core.errors import SnapdeployError

    if inputs is None:
        raise SnapdeployError(
            "no inputs given; fix: pass --inputs X.npy (samples [N, ...], or 0/1 spikes "
            "[N, T, n] for a spike-input model)"
        )
    if not Path(inputs).is_file():
        raise SnapdeployError(f"inputs file {inputs} not found; fix: pass an existing .npy")


def run_build(build: Path, options: RunOptions) -> Path | None:
    """Run in the chosen form; the process that holds the results returns OUT."""
    import numpy as np

    from snapdeploy.core.errors import SnapdeployError
    from snapdeploy.runtime import Deployment
    from snapdeploy.runtime.distributed import env_rank, run_rank
    from snapdeploy.runtime.launch import launch_local

    inputs, out, batch_size, ranks = options.inputs, options.out, options.batch_size, options.ranks
    rank, world, master = options.rank, options.world, options.master
    resume, timeout = options.resume, options.timeout
    explicit = (rank, world) if rank is not None or world is not None else None
    if explicit and None in explicit:
        raise SnapdeployError("--rank and --world go together; fix: pass both (and --master)")
    joined = (rank, world, master) if explicit else env_rank() if ranks == 1 else None
    if joined is not None:
        run_rank(build, joined[0], joined[1], joined[2], inputs, out, batch_size, resume, timeout)
        return out if joined[0] == joined[1] - 1 else None
    if ranks > 1:
        check_inputs(inputs)
        args = ["--out", str(out), "--batch-size", str(batch_size), "--timeout", str(timeout)]
        args += ["--inputs", str(inputs)] if inputs is not None else []
        hint = f"snapdeploy run {build} --ranks {ranks} {' '.join(args)} --resume"
        launch_local(build, ranks, out, args + (["--resume"] if resume else []), timeout, hint)
        return out
    check_inputs(inputs)
    with Deployment.load(build) as deployment:
        deployment.run(np.load(inputs), batch_size, run_dir=out, resume=resume, timeout=timeout)
    return out


def print_result(out: Path) -> None:
    from snapdeploy.runtime.state import FINAL_FILE, RESULT_FILE

    result = json.loads((out / RESULT_FILE).read_text())
    table = Table(title="bytes on each link (this invocation; headers included)")
    for column in (
        "boundary",
        "samples",
        "spike rate",
        "spike B/sample",
        "fp16 B/sample",
        "fp16/spikes",
    ):
        table.add_column(column, justify="right")
    for b in result["boundaries"]:
        ratio = b["fp16_over_spikes"]
        table.add_row(
            str(b["id"]),
            str(b["samples"]),
            f"{b['spike_rate']:.1%}",
            f"{b['wire_bytes_per_sample']:.1f}",
            f"{b['fp16_bytes_per_sample']:.0f}",
            "n/a" if ratio is None else f"{ratio:.2f}x",
        )
    console.print(table)
    console.print(f"wrote {out / FINAL_FILE}, {out / RESULT_FILE}")


def run(
    build: Path = typer.Argument(..., help="A build directory from `snapdeploy compile`."),
    inputs: Path = INPUTS,
    out: Path = OUT,
    batch_size: int = BATCH,
    ranks: int = RANKS,
    rank: int = RANK,
    world: int = WORLD,
    master: str = MASTER,
    resume: bool = RESUME,
    timeout: float = TIMEOUT,
) -> None:
    """Run a build on inputs; spikes cross every boundary as CRC-checked frames."""
    options = RunOptions(
        inputs=inputs,
        out=out,
        batch_size=batch_size,
        ranks=ranks,
        resume=resume,
        timeout=timeout,
        rank=rank,
        world=world,
        master=master,
    )
    holder = guarded(lambda: run_build(build, options))
    if holder is not None:
        print_result(holder)
