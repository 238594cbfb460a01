"""Synthesizing every RTL partition of a build directory, and recording its bitstreams.

A placed part's bitstream is copied into the bitstreams folder (the package's
backends/fpga/bitstreams/ by default) with a manifest entry that says what it is and where it
came from: part, board, tool versions, the partition's source hash (its `build_hash`), Fmax,
the placement seed kept and every seed tried with its Fmax (so a best-of-N figure says so and
can be reproduced), utilization and the file's sha256, so a later load (or a test) can check the file is the one
built from those sources.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from snapdeploy.backends.base import COMPILED_FILE, CompiledPartition
from snapdeploy.backends.fpga import regmap
from snapdeploy.backends.fpga.board import BITSTREAMS_DIR, MANIFEST
from snapdeploy.core.errors import BackendError
from snapdeploy.core.files import atomic_write

from .backend import SOURCES_DIR
from .synth import (
    CORE_TOP,
    board_sources_hash,
    board_top,
    placement_seeds,
    sha256_of,
    synthesize,
)


def rtl_partitions(build: Path) -> list[CompiledPartition]:
    """The compiled RTL partitions of a build directory, in name order."""
    found = [
        CompiledPartition.load(path.parent)
        for path in sorted(build.glob(f"*/{COMPILED_FILE}"))
        if json.loads(path.read_text()).get("kind") == "rtl"
    ]
    if not found:
        raise BackendError(
            f"{build} holds no partition compiled for an rtl device; fix: compile the model "
            f"for a target with an rtl device (the emulator target has one: --map "
            f"PARTITION=rtl)"
        )
    return found


def manifest_entry(
    compiled: CompiledPartition, part: str, report: dict, file: str, suffix: str = ""
) -> dict:
    """What the manifest records of one bitstream."""
    return {
        "name": f"{compiled.partition}-{part}{suffix}",
        "file": file,
        "kind": "rtl",
        "part": part,
        "device": report["part"],
        "board": report["board"],
        "build_hash": compiled.meta["build_hash"],
        "register_map": regmap.as_dict(),
        "tools": report["tools"] | report["tools_pnr"],
        "fmax_mhz": report["fmax_mhz"],
        "clock_mhz": report["clock_mhz"],
        "seed": report["seed"],
        "seeds": [{k: run[k] for k in ("seed", "fmax_mhz")} for run in report["seeds"]],
        "utilization": report["utilization"],
        # nextpnr's cells after packing, [used, available] (an iCE40 logic cell is a LUT and
        # a flip-flop: what bounds the UP5K)
        "packed": report["packed"],
        "sha256": report["sha256"],
        "bytes": report["bitstream_bytes"],
    }


def record(entry: dict, bitstream: Path, directory: Path) -> Path:
    """Copy `bitstream` into `directory` and put `entry` in its manifest, replacing an entry
    of the same name and deleting the file it named (a stale bitstream is never left behind)."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / entry["file"]
    shutil.copyfile(bitstream, target)
    if sha256_of(target) != entry["sha256"]:
        raise BackendError(f"{target} differs from what was built; fix: run synth again")
    manifest = directory / MANIFEST
    entries = json.loads(manifest.read_text())["bitstreams"] if manifest.is_file() else []
    replaced = [e for e in entries if e.get("name") == entry["name"]]
    entries = [e for e in entries if e.get("name") != entry["name"]] + [entry]
    atomic_write(manifest, (json.dumps({"bitstreams": entries}, indent=2) + "\n").encode())
    for old in replaced:
        if old.get("file") != entry["file"]:
            (directory / str(old.get("file"))).unlink(missing_ok=True)
    return target


def synthesize_build(
    build: Path,
    part: str,
    place: bool = True,
    bitstreams: Path = BITSTREAMS_DIR,
    board: bool = False,
    seeds: Sequence[int] = (1,),
) -> list[dict[str, Any]]:
    """Synthesize (and place, route, pack where the part has a flow) every RTL partition of
    `build`, the core alone or, with `board`, inside its board's top (`synth.board_top`: the
    ULX3S's UART top, the iCEBreaker's SPRAM top on up5k, or the PYNQ-Z2's Zynq top on
    xc7z020); bitstreams go into
    `bitstreams` with their manifest entries (a board top's also records `board_hash`, the
    hash of its own files). Placement tries each of `seeds` and keeps the best Fmax. One
    report each."""
    seeds = placement_seeds(seeds)
    reports = []
    for compiled in rtl_partitions(build):
        sources = compiled.path / SOURCES_DIR
        top, board_hash = CORE_TOP, ""
        if board:
            top = board_top(part)
            board_hash = board_sources_hash(sources, top)
        report = synthesize(
            sources, part, compiled.meta["clock_mhz"], place=place, top=top, seeds=seeds
        )
        report["partition"] = compiled.partition
        if board and top.constraints and part not in top.constraints:
            report["not_recorded"] = f"the board top has pins for {', '.join(top.constraints)}"
        elif "bitstream" in report:
            file = f"{compiled.partition}-{part}{top.suffix}-"
            file += (board_hash or compiled.meta["build_hash"])[:12]
            file += Path(report["bitstream"]).suffix
            entry = manifest_entry(compiled, part, report, file, top.suffix)
            if board:
                entry["board_hash"] = board_hash
            report["recorded"] = str(record(entry, sources / report["bitstream"], bitstreams))
        reports.append(report)
    return reports
