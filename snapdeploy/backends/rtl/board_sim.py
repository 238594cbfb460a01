"""The board top in Verilator behind a pipe: what `deploy --board` meets where no board is.

The simulation executable (`build.BOARD_MODEL`: lif_board.v with the core, its UART at a few
clocks per bit) speaks the board's byte protocol on stdin/stdout, so the host side is the
board's own: `BoardLink` over a `PipeStream` instead of a `SerialStream`, the same
`LinkOverlay`, driver and executor. It runs in the partition's rtl/ folder, where its
$readmemh power-on files are, as a bitstream carries them.
"""

from __future__ import annotations

from pathlib import Path

from snapdeploy.backends.fpga.link import BoardLink, PipeStream
from snapdeploy.backends.fpga.link_device import LinkOverlay

from .build import BOARD_MODEL, build_model
from .sim import VerilatorCore
from .writer import copy_board_sources


def board_simulation(sources: Path) -> LinkOverlay:
    """A running simulation of the board top of the partition whose sources (a compiled
    partition's rtl/ folder) are `sources`, as an overlay on its link."""
    copy_board_sources(sources)
    simulator = build_model(sources, BOARD_MODEL)
    link = BoardLink(PipeStream([str(simulator)], cwd=sources))
    return LinkOverlay(link, str(simulator), VerilatorCore.ip_type)
