"""One rank of a multi-process run over torch.distributed (gloo on CPU).

Rank r serves device group r of the build (consecutive partitions on one device) and talks
only to ranks r - 1 and r + 1. Rank 0 reads the inputs; the last rank owns the run state
(each completed batch's outputs, for `--resume`) and writes the results. Every wait is
bounded by the process group's timeout, so a dead peer ends the run with a named error.
"""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path

import numpy as np

from snapdeploy.core.errors import SnapdeployError
from snapdeploy.core.extras import needs
from snapdeploy.runtime.deployment import check_batch_size, collect_stats
from snapdeploy.runtime.links import DistLink
from snapdeploy.runtime.pipeline import BuildInfo, GroupRunner, load_stages, read_build
from snapdeploy.runtime.state import RunState, batches, describe_run, write_result


def check_world(info: BuildInfo, world: int) -> None:
    groups = info.groups
    if world != len(groups):
        labels = "; ".join(f"rank {g}: {info.group_label(g)}" for g in range(len(groups)))
        raise SnapdeployError(
            f"{info.directory} has {len(groups)} device groups ({labels}) but the run has "
            f"{world} ranks; fix: run with --ranks {len(groups)} (or --world {len(groups)})"
        )


def init_group(rank: int, world: int, master: str | None, timeout: float) -> None:
    """Join the gloo process group at `master` (HOST:PORT), or from torchrun's environment."""
    with needs("train", __name__):  # ranks talk through torch.distributed
        import torch.distributed as dist

    if master is None:
        init_method = "env://"
    else:
        host, _, port = master.rpartition(":")
        if not host or not port.isdigit():
            raise SnapdeployError(f"--master {master!r} is not HOST:PORT; fix: e.g. 10.0.0.1:29500")
        init_method = f"tcp://{host}:{port}"
    try:
        dist.init_process_group(
            "gloo",
            init_method=init_method,
            rank=rank,
            world_size=world,
            timeout=timedelta(seconds=timeout),
        )
    except (RuntimeError, ValueError) as error:
        raise SnapdeployError(
            f"rank {rank} of {world} could not join the group at {master or init_method} "
            f"within {timeout:g} s ({error}); fix: start every rank with the same --master "
            f"and --world, and check that rank 0's host is reachable"
        ) from None


def run_rank(
    build_dir: Path,
    rank: int,
    world: int,
    master: str | None,
    inputs_path: Path | None,
    run_dir: Path,
    batch_size: int,
    resume: bool,
    timeout: float,
) -> None:
    """Serve this rank's device group for the whole run; the last rank writes the results."""
    with needs("train", __name__):
        import torch.distributed as dist

    info = read_build(build_dir)
    check_world(info, world)
    check_batch_size(batch_size)
    inputs = _read_inputs(inputs_path) if rank == 0 else None
    init_group(rank, world, master, timeout)
    last = world - 1
    stages = []
    try:
        stages = load_stages(info, info.groups[rank], timeout)
        record = [describe_run(build_dir, inputs, batch_size) if rank == 0 else None]
        dist.broadcast_object_list(record, src=0)
        spans_all = batches(record[0]["samples"], batch_size)
        state = RunState(run_dir, record[0], resume) if rank == last else None
        pending = [[i for i in range(len(spans_all)) if not state.done(i)] if state else None]
        dist.broadcast_object_list(pending, src=last)
        spans = [(i, *spans_all[i]) for i in pending[0]]
        inbound = DistLink(info.link_name(rank - 1), rank - 1) if rank else None
        outbound = DistLink(info.link_name(rank), rank + 1) if rank < last else None
        runner = GroupRunner(info, rank, stages, inbound, outbound, timeout)
        began = time.perf_counter()
        runner.run(spans, inputs, state)
        run_seconds = time.perf_counter() - began
        gathered = [None] * world if rank == last else None
        seconds = {stage.name: stage.seconds for stage in stages}
        dist.gather_object(([s.stats for s in runner.senders], seconds), gathered, dst=last)
        if state is not None:
            state.finish(len(spans_all))
            stats = collect_stats(s for part, _ in gathered for s in part)
            seconds = {k: v for _, part in gathered for k, v in part.items()}
            write_result(run_dir, stats, seconds, run_seconds)
        # no rank tears its connections down while a peer is still in a collective: gloo
        # aborts a rank whose peer closed mid-operation, after all its work was done
        dist.barrier()
    except RuntimeError as error:  # a collective that lost a peer
        raise SnapdeployError(
            f"rank {rank} ({info.group_label(rank)}) lost the group: "
            f"{str(error).strip().splitlines()[0]}; fix: see the other ranks' errors"
        ) from None
    finally:
        for stage in stages:
            stage.executor.close()
        dist.destroy_process_group()


def _read_inputs(path: Path | None) -> np.ndarray:
    if path is None or not Path(path).is_file():
        raise SnapdeployError(
            f"inputs file {path} not found; fix: pass --inputs X.npy (float samples [N, ...]) "
            f"to rank 0"
        )
    return np.load(path)


def env_rank() -> tuple[int, int, str | None] | None:
    """(rank, world, None) when launched by torchrun (RANK and WORLD_SIZE set), else None."""
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:
        return int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), None
    return None
