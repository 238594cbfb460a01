"""Finding the bitstream for a compiled partition and opening it with pynq on a board.

bitstreams/manifest.json (package data beside this module, so an installed wheel finds it on a
board) lists built bitstreams; an entry matches a compiled partition when its FPGA part and the
hash of the sources it was built from (the build hash the backend recorded, which covers the
parameter header) are the partition's, and its register map is the driver's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from snapdeploy.backends.fpga import regmap
from snapdeploy.backends.fpga.pynq_api import pynq
from snapdeploy.core.errors import BackendError
from snapdeploy.core.resources import package_path

BITSTREAMS_DIR = package_path("snapdeploy.backends.fpga", "bitstreams")
MANIFEST = "manifest.json"
HOW_TO_BUILD = (
    "build a bitstream from the partition's build directory as hw/README.md describes, copy "
    f"the .bit and .hwh into {BITSTREAMS_DIR}, and add an entry with its file, part, "
    "build_hash and register_map to its manifest.json"
)


def find_bitstream(part: str, build_hash: str, directory: Path = BITSTREAMS_DIR) -> Path:
    """The .bit file built from `build_hash` for `part`; a clear error when there is none."""
    manifest = directory / MANIFEST
    try:
        entries = json.loads(manifest.read_text())["bitstreams"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BackendError(f"{manifest} cannot be read ({exc}); fix: restore it from git") from exc
    for entry in entries:
        if entry.get("part") == part and entry.get("build_hash") == build_hash:
            return checked_entry(entry, directory)
    raise BackendError(
        f"no bitstream in {manifest} was built for part {part} from sources {build_hash[:12]}; "
        f"fix: {HOW_TO_BUILD}, or run with --emulate to use the core's simulation"
    )


def checked_entry(entry: dict[str, Any], directory: Path) -> Path:
    name = entry.get("name", entry.get("file"))
    if entry.get("register_map") != regmap.as_dict():
        raise BackendError(
            f"bitstream '{name}' has register map {entry.get('register_map')} but the driver "
            f"expects {regmap.as_dict()}; fix: rebuild it from this version of the HLS core"
        )
    path = directory / str(entry.get("file"))
    if not path.is_file() or not path.with_suffix(".hwh").is_file():
        raise BackendError(
            f"bitstream '{name}' is listed but {path} or its .hwh is missing; fix: {HOW_TO_BUILD}"
        )
    return path


def board_overlay(part: str, build_hash: str) -> Any:
    """Program the FPGA with the partition's bitstream through pynq and return the overlay."""
    return pynq.Overlay(str(find_bitstream(part, build_hash)))
