"""`deploy --board` of an rtl partition on a PYNQ-Z2's part (xc7z020, no link) goes through
the HLS core's board path: refused before anything runs or is written where pynq finds no FPGA
or the manifest lacks a usable entry (none for the part and source hash, another register map,
no .hwh), each named; with the entry, `pynq.Overlay` (a recording stand-in here, over temp
files, driving the Zynq top's simulation) opens its .bit and the run equals `--emulate`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from snapdeploy.artifact.model import save_model
from snapdeploy.backends.base import CompiledPartition
from snapdeploy.backends.fpga import board, regmap
from snapdeploy.backends.fpga.board import MANIFEST
from snapdeploy.backends.rtl import backend
from snapdeploy.backends.rtl.backend import RtlBackend
from snapdeploy.cli import app
from snapdeploy.quant.export import export_model
from snapdeploy.targets import SHIPPED_TARGETS_DIR
from tests.models import hybrid_net


def cli(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def zynq_build(tmp_path_factory) -> tuple[Path, Path, CompiledPartition]:
    """A build whose spiking partition sits on an rtl device on the PYNQ-Z2's part."""
    root = tmp_path_factory.mktemp("pynq-rtl")
    net = hybrid_net([6, 4], 3, n_in=5, n_out=2, seed=6, threshold=0.3, vth=0.2)
    snap = save_model(root / "m.snap", export_model(net), {})
    np.save(root / "x.npy", np.random.default_rng(1).random((9, 5)).astype(np.float32))
    text = (SHIPPED_TARGETS_DIR / "emulator.toml").read_text()
    rtl = 'part = "lfe5u-85f"         # the Verilog core cycle-accurate in Verilator; an ULX3S\'s '
    rtl += 'ECP5-85F\nboard = "ulx3s"\n'
    assert rtl in text
    target = root / "zynq.toml"
    target.write_text(text.replace(rtl, 'part = "xc7z020"\nboard = "pynq-z2"\n'))
    build = root / "build"
    result = cli("compile", snap, "--target", target, "-o", build, "--map", "p1_spiking=rtl")
    assert result.exit_code == 0, result.output
    compiled = CompiledPartition.load(build / "p1_spiking")
    assert compiled.kind == "rtl" and compiled.meta["part"] == "xc7z020"
    return build, root / "x.npy", compiled


def deploy_board(build: Path, inputs: Path, out: Path):
    return cli("deploy", build, "--board", "--inputs", inputs, "-o", out)


def refused(zynq_build, out: Path, *names: str) -> None:
    """`deploy --board` fails naming the part, the source hash and `names`, writing nothing."""
    build, inputs, compiled = zynq_build
    result = deploy_board(build, inputs, out)
    assert result.exit_code == 1, result.output
    text = " ".join(result.output.split())
    for name in ("device 'rtl'", "xc7z020", compiled.meta["build_hash"][:12], *names):
        assert name in text, (name, text)
    assert not out.exists()


def test_without_a_board_deploy_board_refuses_naming_part_hash_and_fix(zynq_build, tmp_path):
    refused(zynq_build, tmp_path / "out", "pynq finds no FPGA", "hw/rtl/build.tcl", "--emulate")


@pytest.fixture
def bitstreams(tmp_path: Path, monkeypatch) -> Path:
    """A temp bitstreams folder in the package's place, on a machine said to have a board."""
    folder = tmp_path / "bitstreams"
    folder.mkdir()
    monkeypatch.setattr(board, "BITSTREAMS_DIR", folder)
    monkeypatch.setattr(backend, "no_board", lambda: None)
    return folder


def write_entry(folder: Path, compiled: CompiledPartition, **fields: object) -> None:
    entry = {
        "name": "p1_spiking-xc7z020-zynq",
        "file": "p1_spiking-xc7z020.bit",
        "kind": "rtl",
        "part": "xc7z020",
        "build_hash": compiled.meta["build_hash"],
        "register_map": regmap.as_dict(),
    }
    (folder / MANIFEST).write_text(json.dumps({"bitstreams": [entry | fields]}))


def test_manifest_problems_are_refused_before_anything_runs(zynq_build, bitstreams, tmp_path):
    _, _, compiled = zynq_build
    write_entry(bitstreams, compiled, part="lfe5u-85f")
    refused(zynq_build, tmp_path / "none", "no bitstream", "hw/rtl/build.tcl", "--emulate")
    write_entry(bitstreams, compiled, register_map={"ctrl": 0})
    refused(zynq_build, tmp_path / "map", "has register map {'ctrl': 0}", "hw/rtl/build.tcl")
    write_entry(bitstreams, compiled)
    (bitstreams / "p1_spiking-xc7z020.bit").write_bytes(b"test stand-in, not a bitstream")
    refused(zynq_build, tmp_path / "hwh", "is listed but", "p1_spiking-xc7z020.hwh is missing")


def test_with_its_entry_the_partition_opens_through_pynq_overlay(
    zynq_build, bitstreams, tmp_path, monkeypatch
):
    build, inputs, compiled = zynq_build
    write_entry(bitstreams, compiled)
    bit = bitstreams / "p1_spiking-xc7z020.bit"
    bit.write_bytes(b"test stand-in, not a bitstream")
    bit.with_suffix(".hwh").write_text("test stand-in")
    opened: list[str] = []

    def overlay(path: str):
        """pynq.Overlay's stand-in: records the file, drives the Zynq top's simulation."""
        opened.append(path)
        return RtlBackend.simulation(CompiledPartition.load(compiled.path))[0]

    monkeypatch.setattr(board.pynq, "Overlay", overlay)
    result = deploy_board(build, inputs, tmp_path / "board")
    assert result.exit_code == 0, result.output
    assert opened == [str(bit)]
    for mode in ("run", "deploy"):
        args = [mode, build, "--inputs", inputs, "-o", tmp_path / mode]
        result = cli(*args, *(["--emulate"] if mode == "deploy" else []))
        assert result.exit_code == 0, result.output
    assert opened == [str(bit)]  # plain run and --emulate stay on the simulation
    outputs = [np.load(tmp_path / mode / "outputs.npy") for mode in ("board", "run", "deploy")]
    np.testing.assert_array_equal(outputs[0], outputs[1])
    np.testing.assert_array_equal(outputs[0], outputs[2])
