"""Finding the bitstream for a compiled partition and opening it with pynq on a board.

bitstreams/manifest.json (package data beside this module, so an installed wheel finds it on a
board) lists built bitstreams; an entry matches a compiled partition when its FPGA part and the
hash of the sources it was built from (the build hash the backend recorded, which covers the
parameter header) are the partition's, and its register map is the driver's. Both FPGA cores
(HLS and RTL) open through here; each passes its own `how_to_build`, the fix its errors name.
"""

from __future__ import annotations

import json
import warnings
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


def find_bitstream(
    part: str,
    build_hash: str,
    directory: Path | None = None,
    how_to_build: str = HOW_TO_BUILD,
) -> Path:
    """The .bit file built from `build_hash` for `part` (in `directory`, by default the
    package's bitstreams folder); a clear error, ending in `how_to_build`, when there is none."""
    directory = BITSTREAMS_DIR if directory is None else directory
    manifest = directory / MANIFEST
    try:
        entries = json.loads(manifest.read_text())["bitstreams"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BackendError(f"{manifest} cannot be read ({exc}); fix: restore it from git") from exc
    for entry in entries:
        if entry.get("part") == part and entry.get("build_hash") == build_hash:
            return checked_entry(entry, directory, how_to_build)
    raise BackendError(
        f"no bitstream in {manifest} was built for part {part} from sources {build_hash[:12]}; "
        f"fix: {how_to_build}, or run with --emulate to use the core's simulation"
    )


def checked_entry(entry: dict[str, Any], directory: Path, how_to_build: str = HOW_TO_BUILD) -> Path:
    """The entry's .bit, refused where its register map is not the driver's or its .bit or
    .hwh (pynq reads the block design from it) is missing."""
    name = f"'{entry.get('name', entry.get('file'))}' (part {entry.get('part')}, sources "
    name += f"{str(entry.get('build_hash'))[:12]})"
    if entry.get("register_map") != regmap.as_dict():
        raise BackendError(
            f"bitstream {name} has register map {entry.get('register_map')} but the driver "
            f"expects {regmap.as_dict()}; fix: rebuild it from this version of the core: "
            f"{how_to_build}"
        )
    path = directory / str(entry.get("file"))
    if not path.is_file() or not path.with_suffix(".hwh").is_file():
        raise BackendError(
            f"bitstream {name} is listed but {path} or its .hwh is missing; fix: {how_to_build}"
        )
    return path


def no_board() -> str | None:
    """Why pynq cannot program an FPGA on this machine (it finds no device: the emulated
    overlay is not a board), or None when it can."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # pynq's "No devices found" on a host
        found = pynq.Device.devices
    return None if found else "needs a board, and pynq finds no FPGA on this machine"


def board_overlay(part: str, build_hash: str, how_to_build: str = HOW_TO_BUILD) -> Any:
    """Program the FPGA with the partition's bitstream through pynq and return the overlay."""
    return pynq.Overlay(str(find_bitstream(part, build_hash, how_to_build=how_to_build)))
