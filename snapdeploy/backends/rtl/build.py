"""Builds the Verilator simulations once per distinct design: cached by content hash.

Three models: the core alone with its harness (a library the emulated PYNQ overlay calls),
the Zynq top with an AXI4 slave memory (a library of the same kind), and the board top (the
core behind its UART link, an executable speaking the link's bytes on stdin/stdout). The key
covers the Verilog, the header (capacities and widths, never the parameters: those are
loaded through the params port, and the layer table comes in when a model starts), the
harness, the Verilator version and the flags, so every partition of the
same capacities reuses one build. The cache lives in core.native's cache directory
(default ~/.cache/snapdeploy)/rtl/<hash>/.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from snapdeploy.core.errors import BackendError
from snapdeploy.core.native import cache_dir

from .writer import (
    AXI_MASTER,
    BOARD,
    BOARD_HARNESS,
    CORE,
    HARNESS,
    HEADER,
    UART,
    ZYNQ_HARNESS,
    ZYNQ_TOP,
)

LIBRARY = "liblif_rtl.so"
BOARD_SIM = "lif_board_sim"
#: Clock cycles per UART bit in the board's simulation (25 on the board: 1 Mbaud at 25 MHz).
SIM_CLOCKS_PER_BIT = 4
COMMON_FLAGS = ("--cc", "--exe", "--build", "-O3", "--x-assign", "fast", "--x-initial", "fast")


@dataclass(frozen=True)
class Model:
    """One Verilator build: its sources (beside the header), its flags, what it writes."""

    files: tuple[str, ...]
    flags: tuple[str, ...]
    output: str


#: The model's per-cycle code compiled at -O3 (Verilator's makefile uses -Os): on the
#: 256 x 256 bench case 15-18% more simulated cycles per second for 10-25% longer builds
#: (5.4 -> 6.0 s Dense-only, 6.8 -> 8.3 s with every engine; load 0.7-1.3).
FAST_CODE = ("-MAKEFLAGS", "OPT_FAST=-O3")


def library_flags(top: str) -> tuple[str, ...]:
    """Verilator's flags for a design built as a library the emulated overlay calls: the
    design yosys synthesizes, plus SNAP_SIM (the layer table comes through DPI)."""
    return (
        *COMMON_FLAGS,
        *FAST_CODE,
        "-DSNAP_SIM",
        "-Wno-fatal",
        "--top-module",
        top,
        "-CFLAGS",
        "-fPIC -O2",
        "-LDFLAGS",
        "-shared",
    )


CORE_MODEL = Model((CORE, HARNESS), library_flags("lif_core"), LIBRARY)
#: The Zynq top (the core behind its AXI4 master) with an AXI4 slave memory: a library with
#: the core's entry points and the slave's stalls, errors and protocol checks.
ZYNQ_MODEL = Model(
    (ZYNQ_TOP, AXI_MASTER, CORE, ZYNQ_HARNESS), library_flags("lif_zynq_top"), "liblif_zynq.so"
)
#: The board top as synthesized (its power-on words read by $readmemh from the working
#: folder), its UART at SIM_CLOCKS_PER_BIT.
BOARD_MODEL = Model(
    (BOARD, UART, CORE, BOARD_HARNESS),
    (
        *COMMON_FLAGS,
        "-Wno-fatal",
        "--top-module",
        "lif_board",
        f"-GCLOCKS_PER_BIT={SIM_CLOCKS_PER_BIT}",
        "-CFLAGS",
        f"-O2 -DSNAP_CLOCKS_PER_BIT={SIM_CLOCKS_PER_BIT}",
    ),
    BOARD_SIM,
)


def cache_root() -> Path:
    return cache_dir() / "rtl"


@cache
def verilator_path() -> str:
    path = shutil.which(os.environ.get("SNAPDEPLOY_VERILATOR", "verilator"))
    if path is None:
        raise BackendError(
            "the rtl backend simulates its core with Verilator, which is not installed; fix: "
            "`apt-get install verilator` (Debian 12 ships 5.006) or place the partition on "
            "another device"
        )
    return path


@cache
def verilator_version() -> str:
    result = subprocess.run(
        [verilator_path(), "--version"], capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def model_key(sources: Path, model: Model = CORE_MODEL) -> str:
    """sha256 of the simulated sources, the Verilator version and the flags."""
    digest = hashlib.sha256()
    for name in (HEADER, *model.files):
        digest.update(name.encode() + b"\0" + (sources / name).read_bytes() + b"\0")
    for text in (verilator_version(), *model.flags):
        digest.update(b"\0" + text.encode())
    return digest.hexdigest()


def build_model(sources: Path, model: Model = CORE_MODEL) -> Path:
    """The simulation of the design in `sources` (from cache when built before)."""
    cached = cache_root() / model_key(sources, model) / model.output
    if not cached.is_file():
        cached.parent.mkdir(parents=True, exist_ok=True)
        verilate(sources, cached, model)
    return cached


def verilate(sources: Path, output: Path, model: Model = CORE_MODEL) -> None:
    """Verilate and compile in a scratch folder, then rename the output into place, so a
    failed or killed build leaves none behind. The sources are named by absolute path:
    Verilator's makefile runs in the scratch folder, where a relative one means nothing."""
    sources = sources.resolve()
    with tempfile.TemporaryDirectory(dir=output.parent, prefix=".build-") as scratch:
        command = [
            verilator_path(),
            *model.flags,
            "-j",
            str(min(os.cpu_count() or 1, 4)),
            "--Mdir",
            scratch,
            "-o",
            model.output,
            f"-I{sources}",
            *(str(sources / name) for name in model.files),
        ]
        result = subprocess.run(command, check=False, capture_output=True, text=True)
        built = Path(scratch) / model.output
        if result.returncode != 0 or not built.is_file():
            raise BackendError(
                f"Verilator could not build the RTL core in {sources}:\n"
                f"{(result.stderr or result.stdout).strip()[-4000:]}\nfix: the generated "
                f"sources are kept there; report this with them"
            )
        os.replace(built, output)
