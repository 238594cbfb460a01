"""The board top in Verilator behind a pipe: what `deploy --board` meets where no board is.

The simulation executable (the board top of the partition's part, `synth.board_top`: the
core behind its UART, at a few clocks per bit) speaks the board's byte protocol on
stdin/stdout, so the host side is the board's own: `BoardLink` over a `PipeStream` instead of
a `SerialStream`, the same `LinkOverlay`, driver and executor. It runs in the partition's
rtl/ folder, where its $readmemh power-on files are, as a bitstream carries them. The ULX3S's
top is `build.BOARD_MODEL`; the iCEBreaker's is the same model with its SPRAM bank, the
SPRAM primitive's behavioural model (yosys maps the primitive itself) and its define.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from snapdeploy.backends.base import CompiledPartition
from snapdeploy.backends.fpga.link import BoardLink, PipeStream
from snapdeploy.backends.fpga.link_device import LinkOverlay

from .build import BOARD_MODEL, Model, build_model
from .sim import VerilatorCore
from .synth import Top, board_top
from .writer import BOARD_HARNESS, copy_board_sources


def board_model(top: Top) -> Model:
    """The Verilator build of a board top: what yosys reads, the models of the primitives
    it maps itself (its own Verilog that synthesis does not read) and the harness, with its
    defines."""
    models = tuple(f for f in top.own_files if f.endswith(".v") and f not in top.files)
    return replace(
        BOARD_MODEL,
        files=(*top.files, *models, BOARD_HARNESS),
        flags=(*BOARD_MODEL.flags, *(f"-D{name}" for name in top.defines)),
    )


def board_simulation(sources: Path) -> LinkOverlay:
    """A running simulation of the board top of the partition whose sources (a compiled
    partition's rtl/ folder) are `sources`, as an overlay on its link, its buffer memory
    the board top's."""
    top = board_top(CompiledPartition.load(sources.parent).meta["part"])
    copy_board_sources(sources, top.own_files)
    simulator = build_model(sources, board_model(top))
    link = BoardLink(PipeStream([str(simulator)], cwd=sources))
    return LinkOverlay(link, str(simulator), VerilatorCore.ip_type, top.buffer_bytes)
