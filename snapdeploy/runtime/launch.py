"""`--ranks N` on one host: start N ranks of this very command on 127.0.0.1 and watch them.

Each rank is `snapdeploy run BUILD --rank R --world N --master 127.0.0.1:PORT ...`, the form a
user runs on each host of a multi-host run. When a rank fails, the others get the timeout to
notice and stop; whatever still runs then is killed, so no rank outlives the run.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from snapdeploy.core.files import atomic_write
from snapdeploy.runtime.errors import RankFailure
from snapdeploy.runtime.pipeline import read_build
from snapdeploy.runtime.state import OUTPUTS_DIR

RANKS_FILE = "ranks.json"
_CLI = "from snapdeploy.cli import app; app()"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _die_with_parent() -> None:
    """Linux: a rank gets SIGKILL when the launcher dies, so none is orphaned."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def launch_local(
    build_dir: Path,
    ranks: int,
    run_dir: Path,
    rank_args: list[str],
    timeout: float,
    resume_hint: str,
) -> None:
    """Run `ranks` ranks on this host; raise RankFailure naming each rank that failed."""
    info = read_build(build_dir)
    port = free_port()
    run_dir.mkdir(parents=True, exist_ok=True)
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                _CLI,
                "run",
                str(build_dir),
                "--rank",
                str(rank),
                "--world",
                str(ranks),
                "--master",
                f"127.0.0.1:{port}",
                *rank_args,
            ],
            # prctl only, no locks: safe between fork and exec even with threads
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,  # noqa: PLW1509
        )
        for rank in range(ranks)
    ]
    atomic_write(
        run_dir / RANKS_FILE,
        json.dumps({"pids": {str(r): p.pid for r, p in enumerate(procs)}}).encode(),
    )
    try:
        _watch(procs, grace=timeout + 10.0)
    finally:
        _stop(procs)
    failed = [(rank, p.returncode) for rank, p in enumerate(procs) if p.returncode != 0]
    if failed:
        done = sorted((run_dir / OUTPUTS_DIR).glob("batch_*.npy"))
        kept = (
            f"{len(done)} completed batches are kept in {run_dir}" if done else "no batch completed"
        )
        causes = "; ".join(
            f"rank {rank} ({info.group_label(rank) if rank < len(info.groups) else '?'}) "
            f"{_exit_reason(code)}"
            for rank, code in failed
        )
        raise RankFailure(f"{causes}; {kept}; fix: find the cause above, then {resume_hint}")


def _watch(procs: list[subprocess.Popen], grace: float) -> None:
    """Wait for every rank; once one fails, wait at most `grace` seconds for the rest."""
    failed_at = None
    while any(p.poll() is None for p in procs):
        if failed_at is None and any(p.returncode not in (None, 0) for p in procs):
            failed_at = time.monotonic()
        if failed_at is not None and time.monotonic() - failed_at > grace:
            return
        time.sleep(0.05)


def _stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    deadline = time.monotonic() + 5.0
    for p in procs:
        try:
            p.wait(max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def _exit_reason(code: int | None) -> str:
    if code is None:
        return "did not stop and was killed"
    if code < 0:
        return f"was killed by signal {signal.Signals(-code).name}"
    return f"exited with status {code}"
