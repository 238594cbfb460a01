"""A spiking partition served by `snapdeploy serve` in another process, reached over ZeroMQ on
127.0.0.1: outputs equal to the in-process run; a killed or restarted board is a named
LinkFailure, and `--resume` then finishes with the outputs of an uninterrupted run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from snapdeploy.cli import app
from snapdeploy.core.errors import SnapdeployError
from snapdeploy.runtime import Deployment
from snapdeploy.runtime.board_link import RemoteExecutor
from snapdeploy.runtime.errors import LinkFailure
from snapdeploy.runtime.state import FINAL_FILE
from tests.board import Board, compiled, free_port

#: A lost board's wait: short, to keep its test quick (a live board answers in milliseconds).
LOST_AFTER_S = 3.0


@pytest.fixture(params=["reference"])
def builds(request: pytest.FixtureRequest, tmp_path: Path):
    """A build served by a board (spiking device of kind `request.param`) and the same build
    run here."""
    port = free_port()
    remote = compiled(tmp_path, f"tcp://127.0.0.1:{port}", request.param)
    board = Board(remote, port)
    board.start()
    yield compiled(tmp_path, None, request.param), remote, board
    board.stop()


INPUTS = np.random.default_rng(3).normal(0, 1, (10, 6)).astype(np.float32)


def run(build: Path, timeout: float = 60.0, **options):
    with Deployment.load(build) as deployment:
        return deployment.run(INPUTS, batch_size=4, progress=False, timeout=timeout, **options)


@pytest.mark.parametrize("builds", ["reference", "hls"], indirect=True)
def test_a_served_partition_gives_the_in_process_outputs_and_traffic(builds) -> None:
    local, remote, _ = builds
    here, there = run(local), run(remote)
    np.testing.assert_array_equal(there.outputs, here.outputs)
    assert [b.wire_bytes for b in there.boundaries] == [b.wire_bytes for b in here.boundaries]
    assert sum(b.spikes for b in here.boundaries) > 0


def before_second_batch(monkeypatch: pytest.MonkeyPatch, action) -> None:
    """Do `action` once, as the board's stage starts its second batch (the first is done)."""
    reset = RemoteExecutor.reset
    calls = []

    def resetting(self) -> None:
        calls.append(1)
        if len(calls) == 2:
            action()
        reset(self)

    monkeypatch.setattr(RemoteExecutor, "reset", resetting)


def test_a_killed_board_is_a_named_failure_and_resume_finishes_the_run(
    builds, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local, remote, board = builds
    expected = run(local).outputs
    before_second_batch(monkeypatch, board.kill)
    with pytest.raises(LinkFailure, match=rf"board tcp://127.0.0.1:{board.port} \(partition "):
        run(remote, timeout=LOST_AFTER_S, run_dir=tmp_path / "run")
    monkeypatch.undo()
    board.start()
    resumed = run(remote, run_dir=tmp_path / "run", resume=True)
    np.testing.assert_array_equal(resumed.outputs, expected)


def test_a_board_restarted_mid_run_is_named_and_resume_finishes_the_run(
    builds, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local, remote, board = builds
    before_second_batch(monkeypatch, lambda: (board.kill(), board.start()))
    with pytest.raises(LinkFailure, match="restarted during the run and lost the partition"):
        run(remote, run_dir=tmp_path / "run")
    monkeypatch.undo()
    resumed = run(remote, run_dir=tmp_path / "run", resume=True)
    np.testing.assert_array_equal(resumed.outputs, run(local).outputs)


def test_a_board_serving_another_partition_is_refused(builds, tmp_path: Path) -> None:
    _, remote, board = builds
    board.stop()
    other = Board(remote, board.port)
    other.start()
    try:
        with Deployment.load(remote) as deployment:
            executor = deployment.stages[1].executor
            assert isinstance(executor, RemoteExecutor)
            executor.compiled = type(executor.compiled)(
                **{**executor.compiled.__dict__, "partition": "p9_spiking"}
            )
            with pytest.raises(LinkFailure, match=r"the board serves .*'p1_spiking'"):
                executor.reset()
    finally:
        other.stop()


def test_serve_refuses_a_partition_the_build_does_not_have(builds) -> None:
    _, remote, _ = builds
    from snapdeploy.runtime.serve import BoardServer

    with pytest.raises(SnapdeployError, match=r"no spiking partition 'p0_dense'.*p1_spiking"):
        BoardServer(remote, "p0_dense", "tcp://127.0.0.1:*")


def test_ranks_reach_a_served_partition_as_one_process_does(builds, tmp_path: Path) -> None:
    """`run --ranks 3`: the rank of the board's device group talks to the board over ZeroMQ,
    the ranks to each other over torch.distributed."""
    local, remote, _ = builds
    np.save(tmp_path / "x.npy", INPUTS)
    args = ["run", remote, "--inputs", tmp_path / "x.npy", "-o", tmp_path / "ranks"]
    result = CliRunner().invoke(app, [str(a) for a in [*args, "--ranks", 3, "--batch-size", 4]])
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(np.load(tmp_path / "ranks" / FINAL_FILE), run(local).outputs)
