"""A board is run only with the bitstream built from its partition: `deploy --board` finds the
board top's entry in the manifest (part, build hash, board-top hash, sha256) before anything
runs, a serial link loads it with openFPGALoader (a recording stand-in here: no board is
attached), and every way that fails names the fix. The demo partition's committed board
bitstream is what the lookup finds for the demo's sources."""

from __future__ import annotations

import hashlib
import json
import shutil
import stat
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from snapdeploy.backends.base import CompiledPartition
from snapdeploy.backends.fpga import board, regmap
from snapdeploy.backends.fpga.board import BITSTREAMS_DIR, MANIFEST
from snapdeploy.backends.fpga.sources import source_hash
from snapdeploy.backends.rtl import backend
from snapdeploy.backends.rtl.board_program import (
    LOADER_ENV,
    board_bitstream,
    program_board,
)
from snapdeploy.backends.rtl.board_sim import board_simulation
from snapdeploy.backends.rtl.synth import board_sources_hash, board_top
from snapdeploy.backends.rtl.writer import CORE, CORE_DIR, HARNESS
from snapdeploy.core.errors import BackendError

DEMO_SOURCES = Path(__file__).parents[3] / "hw" / "rtl" / "demo_p1_spiking"
DEMO_UP5K_SOURCES = DEMO_SOURCES.with_name("demo_p1_spiking_up5k")


def partition_at(tmp_path: Path, part: str = "lfe5u-85f", board_name: str = "ulx3s"):
    """A compiled partition's record and its (empty) sources folder: enough to look its
    board bitstream up."""
    sources = tmp_path / "p1" / "rtl"
    sources.mkdir(parents=True)
    meta = {"part": part, "board": board_name, "build_hash": "ab" * 32}
    return CompiledPartition("rtl", "p1", "fpga", tmp_path / "p1", 3, 2, meta), sources


def record_stand_in(compiled: CompiledPartition, sources: Path, directory: Path) -> Path:
    """A manifest entry for `compiled`'s board top over a stand-in file (test data, never a
    bitstream), as `snapdeploy synth --board` records a real one."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{compiled.partition}-board.bit"
    path.write_bytes(b"stand-in for " + compiled.meta["build_hash"].encode())
    part = compiled.meta["part"]
    entry = {
        "name": path.stem,
        "file": path.name,
        "kind": "rtl",
        "part": part,
        "board": compiled.meta["board"],
        "build_hash": compiled.meta["build_hash"],
        "board_hash": board_sources_hash(sources, board_top(part)),
        "register_map": regmap.as_dict(),
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
    }
    (directory / MANIFEST).write_text(json.dumps({"bitstreams": [entry]}))
    return path


def loader_at(tmp_path: Path, exit_code: int = 0) -> Path:
    """A stand-in openFPGALoader that records its arguments and exits with `exit_code`."""
    script = tmp_path / "loader"
    script.write_text(
        f'#!/bin/sh\necho "$@" > "{tmp_path}/loaded"\necho "no cable found" >&2\nexit {exit_code}\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def test_a_serial_board_is_loaded_with_its_partition_s_bitstream(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    compiled, sources = partition_at(tmp_path)
    path = record_stand_in(compiled, sources, tmp_path / "bits")
    monkeypatch.setattr(board, "BITSTREAMS_DIR", tmp_path / "bits")
    monkeypatch.setenv(LOADER_ENV, str(loader_at(tmp_path)))
    assert program_board(compiled, sources) == path
    assert (tmp_path / "loaded").read_text().split() == ["-b", "ulx3s", str(path)]


def test_each_way_a_load_fails_is_named_with_its_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    compiled, sources = partition_at(tmp_path)
    monkeypatch.setattr(board, "BITSTREAMS_DIR", tmp_path / "bits")
    (tmp_path / "bits").mkdir()
    (tmp_path / "bits" / MANIFEST).write_text(json.dumps({"bitstreams": []}))
    with pytest.raises(BackendError, match=r"no bitstream .*snapdeploy synth .*--board"):
        program_board(compiled, sources)
    path = record_stand_in(compiled, sources, tmp_path / "bits")
    monkeypatch.setenv(LOADER_ENV, str(tmp_path / "no-such-loader"))
    with pytest.raises(BackendError, match=f"{LOADER_ENV}=.*no-such-loader names no command"):
        program_board(compiled, sources)
    monkeypatch.setenv(LOADER_ENV, "")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(BackendError, match="needs openFPGALoader.*fix: `apt-get install"):
        program_board(compiled, sources)
    monkeypatch.setenv(LOADER_ENV, str(loader_at(tmp_path, exit_code=1)))
    with pytest.raises(BackendError, match="failed \\(exit 1\\):\nno cable found\nfix:"):
        program_board(compiled, sources)
    path.write_bytes(b"another design")
    with pytest.raises(BackendError, match="not the file that was built"):
        program_board(compiled, sources)
    other, other_sources = partition_at(tmp_path / "other", board_name="my-board")
    record_stand_in(other, other_sources, tmp_path / "bits")
    with pytest.raises(BackendError, match="no loader command is known for board 'my-board'"):
        program_board(other, other_sources)


@pytest.mark.parametrize(
    ("part", "board_name", "demo"),
    [("lfe5u-85f", "ulx3s", DEMO_SOURCES), ("up5k", "icebreaker", DEMO_UP5K_SOURCES)],
)
def test_the_demo_partition_s_committed_board_bitstream_is_found(
    tmp_path: Path, part: str, board_name: str, demo: Path
) -> None:
    """The lookup `deploy --board` makes finds the committed ULX3S or iCEBreaker board
    bitstream for the demo partition's sources for its part beside this core."""
    sources = tmp_path / "p1_spiking" / "rtl"
    shutil.copytree(demo, sources)
    build_hash = source_hash([*sorted(demo.iterdir()), CORE_DIR / CORE, CORE_DIR / HARNESS])
    meta = {"part": part, "board": board_name, "build_hash": build_hash}
    compiled = CompiledPartition("rtl", "p1_spiking", "fpga", sources.parent, 128, 64, meta)
    found = board_bitstream(compiled, sources)
    assert found.parent == BITSTREAMS_DIR and "-board-" in found.name


@pytest.mark.parametrize("target", ["ulx3s", "icebreaker"])
def test_deploy_board_runs_the_spiking_partition_through_the_board_link(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str
) -> None:
    """`deploy --board` on the ULX3S or iCEBreaker target (its rtl device's link: the board
    top's simulation) is refused, before anything is written, while the manifest holds no
    board bitstream for the partition; with one, it gives the outputs `deploy --emulate`
    (the bare core's simulation) gives."""
    from snapdeploy.artifact.model import save_model
    from snapdeploy.cli import app
    from snapdeploy.quant.export import export_model
    from tests.models import hybrid_net

    opened: list[Path] = []

    def spy(sources: Path):
        opened.append(sources)
        return board_simulation(sources)

    monkeypatch.setattr(backend, "board_simulation", spy)
    monkeypatch.setattr(board, "BITSTREAMS_DIR", tmp_path / "bits")
    net = hybrid_net([6, 4], 3, n_in=5, n_out=2, seed=6, threshold=0.3, vth=0.2)
    snap = save_model(tmp_path / "m.snap", export_model(net), {})
    np.save(tmp_path / "x.npy", np.random.default_rng(1).random((9, 5)).astype(np.float32))

    def cli(*args: object):
        return CliRunner().invoke(app, [str(a) for a in args])

    build = tmp_path / "build"
    result = cli("compile", snap, "--target", target, "-o", build)
    assert result.exit_code == 0, result.output
    refused = cli("deploy", build, "--board", "--inputs", tmp_path / "x.npy", "-o", tmp_path / "r")
    assert refused.exit_code != 0
    assert "cannot load its board top" in refused.output and "--board" in refused.output
    assert not (tmp_path / "r").exists() and not opened
    (compiled_dir,) = [
        p.parent for p in build.glob("*/compiled.json") if (p.parent / "rtl").is_dir()
    ]
    compiled = CompiledPartition.load(compiled_dir)
    record_stand_in(compiled, compiled_dir / "rtl", tmp_path / "bits")
    for mode in ("--emulate", "--board"):
        result = cli("deploy", build, mode, "--inputs", tmp_path / "x.npy", "-o", tmp_path / mode)
        assert result.exit_code == 0, result.output
    assert len(opened) == 1
    outputs = [np.load(tmp_path / mode / "outputs.npy") for mode in ("--emulate", "--board")]
    np.testing.assert_array_equal(*outputs)


def test_deploy_board_on_a_serial_link_is_refused_up_front_without_a_loader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`deploy --board` asks before anything runs: the bitstream must be listed and, for a
    serial port, the loader installed; a simulation link needs no loader."""
    compiled, sources = partition_at(tmp_path)
    monkeypatch.setattr(board, "BITSTREAMS_DIR", tmp_path / "bits")
    record_stand_in(compiled, sources, tmp_path / "bits")
    monkeypatch.setenv(LOADER_ENV, str(tmp_path / "no-such-loader"))
    serial = replace(compiled, meta=compiled.meta | {"link": "/dev/ttyUSB9"})
    problem = backend.RtlBackend.board_problem(serial, None)
    assert problem is not None and "names no command found here" in problem
    simulated = replace(compiled, meta=compiled.meta | {"link": "simulation"})
    assert backend.RtlBackend.board_problem(simulated, None) is None
