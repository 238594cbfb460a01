"""Finding the bitstream for a compiled partition and opening it with pynq on a board.

bitstreams/manifest.json (package data beside this module, so an installed wheel finds it on a
board) lists built bitstreams; an entry matches a compiled partition when its FPGA part and the
hash of the sources it was built from (the build hash the backend recorded, which covers the
parameter header) are the partition's, and its register map is the driver's. Both FPGA cores
(HLS and RTL) open through here; each passes its own `how_to_build`, the fix its errors name.
"""

from __future__ import annotations

import hashlib
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
    board_hash: str = "",
    companions: tuple[str, ...] = (".hwh",),
) -> Path:
    """The bitstream file built from `build_hash` for `part` (in `directory`, by default the
    package's bitstreams folder): the core's, or with `board_hash` (the hash of a board top's
    own files) that board top's; a clear error, ending in `how_to_build`, when there is none.
    `companions` are the files its loader reads beside it (pynq: the block design's .hwh)."""
    directory = BITSTREAMS_DIR if directory is None else directory
    manifest = directory / MANIFEST
    try:
        entries = json.loads(manifest.read_text())["bitstreams"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BackendError(f"{manifest} cannot be read ({exc}); fix: restore it from git") from exc
    for entry in entries:
        if (entry.get("part"), entry.get("build_hash"), entry.get("board_hash", "")) == (
            part,
            build_hash,
            board_hash,
        ):
            return checked_entry(entry, directory, how_to_build, companions)
    what = f"the board top {board_hash[:12]} around " if board_hash else ""
    raise BackendError(
        f"no bitstream in {manifest} was built for part {part} from {what}sources "
        f"{build_hash[:12]}; fix: {how_to_build}, or run with --emulate to use the core's "
        f"simulation"
    )


def checked_entry(
    entry: dict[str, Any], directory: Path, how_to_build: str, companions: tuple[str, ...]
) -> Path:
    """The entry's bitstream, refused where its register map is not the driver's, where it
    or a companion file is missing, or where its sha256 (when recorded) is not the file's:
    a board is never loaded with a file other than the one built."""
    name = f"'{entry.get('name', entry.get('file'))}' (part {entry.get('part')}, sources "
    name += f"{str(entry.get('build_hash'))[:12]})"
    if entry.get("register_map") != regmap.as_dict():
        raise BackendError(
            f"bitstream {name} has register map {entry.get('register_map')} but the driver "
            f"expects {regmap.as_dict()}; fix: rebuild it from this version of the core: "
            f"{how_to_build}"
        )
    path = directory / str(entry.get("file"))
    missing = [p for p in (path, *(path.with_suffix(s) for s in companions)) if not p.is_file()]
    if missing:
        raise BackendError(
            f"bitstream {name} is listed but {', '.join(map(str, missing))} is missing; fix: "
            f"{how_to_build}"
        )
    recorded = entry.get("sha256")
    if recorded is not None and hashlib.sha256(path.read_bytes()).hexdigest() != recorded:
        raise BackendError(
            f"bitstream {name}: {path} is not the file that was built (its sha256 differs "
            f"from the manifest's); fix: restore it from git, or {how_to_build}"
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
