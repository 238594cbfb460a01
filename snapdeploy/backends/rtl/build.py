"""Builds the core's Verilator simulation once per distinct design: cached by content hash.

The key covers the core, its header (capacities and widths, never the parameters: those are
loaded through the params port, and the layer table comes in when a model starts), the
harness, the Verilator version and the flags, so every partition of the same capacities
reuses one library. The cache lives in core.native's cache directory
(default ~/.cache/snapdeploy)/rtl/<hash>/.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from functools import cache
from pathlib import Path

from snapdeploy.core.errors import BackendError
from snapdeploy.core.native import cache_dir

from .writer import CORE, HARNESS, HEADER

LIBRARY = "liblif_rtl.so"
#: The design is the one yosys synthesizes, plus SNAP_SIM: the layer table comes through DPI.
FLAGS = (
    "--cc",
    "--exe",
    "--build",
    "-O3",
    "--x-assign",
    "fast",
    "--x-initial",
    "fast",
    "-DSNAP_SIM",
    "-Wno-fatal",
    "--top-module",
    "lif_core",
    "-CFLAGS",
    "-fPIC -O2",
    "-LDFLAGS",
    "-shared",
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


def model_key(sources: Path) -> str:
    """sha256 of the simulated sources, the Verilator version and the flags."""
    digest = hashlib.sha256()
    for name in (CORE, HEADER, HARNESS):
        digest.update(name.encode() + b"\0" + (sources / name).read_bytes() + b"\0")
    for text in (verilator_version(), *FLAGS):
        digest.update(b"\0" + text.encode())
    return digest.hexdigest()


def build_model(sources: Path) -> Path:
    """The simulation library of the design in `sources` (from cache when built before)."""
    cached = cache_root() / model_key(sources) / LIBRARY
    if not cached.is_file():
        cached.parent.mkdir(parents=True, exist_ok=True)
        verilate(sources, cached)
    return cached


def verilate(sources: Path, library: Path) -> None:
    """Verilate and compile in a scratch folder, then rename the library into place, so a
    failed or killed build leaves none behind."""
    with tempfile.TemporaryDirectory(dir=library.parent, prefix=".build-") as scratch:
        command = [
            verilator_path(),
            *FLAGS,
            "-j",
            str(min(os.cpu_count() or 1, 4)),
            "--Mdir",
            scratch,
            "-o",
            LIBRARY,
            f"-I{sources}",
            str(sources / CORE),
            str(sources / HARNESS),
        ]
        result = subprocess.run(command, check=False, capture_output=True, text=True)
        built = Path(scratch) / LIBRARY
        if result.returncode != 0 or not built.is_file():
            raise BackendError(
                f"Verilator could not build the RTL core in {sources}:\n"
                f"{(result.stderr or result.stdout).strip()[-4000:]}\nfix: the generated "
                f"sources are kept there; report this with them"
            )
        os.replace(built, library)
