"""Putting a partition's board bitstream on its board before the link to it opens.

A board top carries the partition in its power-on memories (layer table, parameters), so a
board still holding another partition's bitstream would answer the driver with wrong spikes
and no error. Before a run talks to a board over its serial port, the bitstream built from
this partition's sources is found in the manifest (part, the partition's build hash, the
board top's own hash; its sha256 checked) and loaded with openFPGALoader: into the ECP5's
configuration SRAM on the ULX3S (lost at power-off), into the SPI flash the UP5K boots from
on the iCEBreaker. Where the board is the board top's simulation (`deploy --board` on a
`link = "simulation"` device), the same entry is found and checked, and the simulation is
built from the very sources its hashes name: the host side is the board's, up to the
loader's command.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from snapdeploy.backends.base import CompiledPartition
from snapdeploy.backends.fpga.board import BITSTREAMS_DIR, find_bitstream
from snapdeploy.core.errors import BackendError

from .synth import board_sources_hash, board_top

#: The loader command (a path or a name on PATH); tests point it at a stand-in.
LOADER_ENV = "SNAPDEPLOY_FPGA_LOADER"
#: openFPGALoader's names (`openFPGALoader --list-boards`) of the boards targets name.
LOADER_BOARDS = {"ulx3s": "ulx3s", "icebreaker": "icebreaker"}
#: A load that takes longer than this has hung (an ECP5-85F's SRAM load takes seconds).
LOAD_TIMEOUT_S = 120


def board_bitstream(compiled: CompiledPartition, sources: Path) -> Path:
    """The manifest's board bitstream for this partition, its sha256 checked; a clear error
    naming the synth command that builds it where there is none."""
    part = compiled.meta["part"]
    how_to_build = (
        f"run `snapdeploy synth {compiled.path.parent} --part {part} --board` (it records the "
        f"bitstream in {BITSTREAMS_DIR})"
    )
    build_hash = compiled.meta["build_hash"]
    return find_bitstream(
        part, build_hash, None, how_to_build, board_sources_hash(sources, board_top(part)), ()
    )


def load_command(compiled: CompiledPartition, bitstream: Path) -> list[str]:
    """openFPGALoader's command line that loads `bitstream` onto the partition's board;
    a clear error where the board or the loader is unknown here."""
    board = compiled.meta["board"]
    if board not in LOADER_BOARDS:
        raise BackendError(
            f"no loader command is known for board {board!r} (known: "
            f"{', '.join(sorted(LOADER_BOARDS))}); fix: program it with {bitstream} yourself "
            f"and run with --emulate to check the outputs, or use a board snapdeploy knows"
        )
    named = os.environ.get(LOADER_ENV)
    loader = shutil.which(named or "openFPGALoader")
    if loader is None and named:
        raise BackendError(
            f"{LOADER_ENV}={named} names no command found here; fix: point it at "
            f"openFPGALoader, or unset it to use the one on PATH"
        )
    if loader is None:
        raise BackendError(
            f"loading {bitstream.name} onto the {board} needs openFPGALoader, which is not "
            f"installed; fix: `apt-get install openfpgaloader` (Debian), or run with --emulate"
        )
    return [loader, "-b", LOADER_BOARDS[board], str(bitstream)]


def program_board(compiled: CompiledPartition, sources: Path) -> Path:
    """Load the partition's board bitstream into the FPGA on the USB port of its board, and
    return the file loaded."""
    bitstream = board_bitstream(compiled, sources)
    command = load_command(compiled, bitstream)
    board = compiled.meta["board"]
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=LOAD_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise BackendError(
            f"`{' '.join(command)}` did not finish in {LOAD_TIMEOUT_S} s; fix: check the "
            f"board's USB cable and power, then run again"
        ) from exc
    if result.returncode != 0:
        said = (result.stderr or result.stdout).strip()[-2000:]
        raise BackendError(
            f"`{' '.join(command)}` failed (exit {result.returncode}):\n{said}\nfix: check "
            f"that the {board} is plugged in and no other program holds its USB port"
        )
    return bitstream
