"""Writes a partition's RTL sources: the parameter header filled in, the power-on memory words
as $readmemh files, beside copies of the core.

As for the HLS core (and hls4ml's writers), the Verilog lives in real files under core/
(package data, readable and synthesizable on their own); this module fills only the data
placeholders of `core/lif_params.vh.in` and writes data files, so the build directory is what
yosys or Verilator is given as is.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from snapdeploy.backends.fpga import regmap
from snapdeploy.backends.fpga.params import LAYER_WORDS, WEIGHT_SHIFT, Layer, parameter_image
from snapdeploy.backends.fpga.sources import fill_template
from snapdeploy.core.files import atomic_write
from snapdeploy.core.resources import package_path

from .layout import (
    DELAY_BITS,
    DENSE_FIELDS,
    LAYER_FIELDS,
    SYNAPSE_KINDS,
    TABLE_HEADER,
    TABLE_LAYER_WORDS,
    RtlLayout,
    power_on_words,
)

CORE_DIR = package_path("snapdeploy.backends.rtl", "core")
TEMPLATE = "lif_params.vh.in"
HEADER = "lif_params.vh"
CORE = "lif_core.v"
HARNESS = "lif_harness.cpp"
#: The board top (the core behind a UART link), its UART, its Verilator harness and the
#: ULX3S pins it is placed on: copied beside a partition's sources only for a board build or
#: its simulation, so the core's own build hash does not change with them.
BOARD = "lif_board.v"
UART = "lif_uart.v"
BOARD_HARNESS = "lif_board_harness.cpp"
BOARD_PINS = "ulx3s.lpf"
BOARD_FILES = (BOARD, UART, BOARD_HARNESS, BOARD_PINS)
#: The Zynq top (the core behind its AXI4 master bridge, as a PYNQ-Z2's block design holds
#: it) and its Verilator harness: among the sources of a partition on that part.
ZYNQ_TOP = "lif_zynq_top.v"
AXI_MASTER = "lif_axi4_master.v"
ZYNQ_HARNESS = "lif_zynq_harness.cpp"
#: The $readmemh files and the bits of each of their words: the layer table's three parts
#: (header, layer entries, load blocks) and the parameter memories.
DATA_FILES = {
    "table_head": ("lif_table_head.hex", 32),
    "table_layers": ("lif_table_layers.hex", 32),
    "table_blocks": ("lif_table_blocks.hex", 32),
    "config": ("lif_config.hex", 17),
    "bias": ("lif_bias.hex", 13),
    "weights": ("lif_weights.hex", None),  # the layout's weight bits
    "delays": ("lif_delays.hex", DELAY_BITS),
}


def hex_words(values: np.ndarray, bits: int) -> str:
    """One word per line, as $readmemh reads them: each row of `values` (a scalar per row for
    a 1-D array) packed lane 0 lowest, every lane `bits` bits of two's complement."""
    rows = np.asarray(values).reshape(len(values), -1)
    mask = (1 << bits) - 1
    digits = (bits * rows.shape[1] + 3) // 4
    lines = []
    for row in rows:
        word = sum((int(v) & mask) << (bits * lane) for lane, v in enumerate(row))
        lines.append(f"{word:0{digits}x}\n")
    return "".join(lines)


#: The layer fields the core names (the reciprocals it reads beside their divisors).
FIELD_DEFINES = tuple(name for name in LAYER_FIELDS if not name.startswith(("M_", "K_")))
TABLE_PARTS = ("table_head", "table_layers", "table_blocks")


def table_parts(layout: RtlLayout) -> dict[str, np.ndarray]:
    """The layer table split as the core holds it: header, layer entries, load blocks."""
    table = layout.layer_table()
    blocks = TABLE_HEADER + TABLE_LAYER_WORDS * layout.caps["layers"]
    return dict(
        zip(TABLE_PARTS, (table[:TABLE_HEADER], table[TABLE_HEADER:blocks], table[blocks:]))
    )


def header_values(layout: RtlLayout) -> dict[str, str]:
    """Every placeholder of the template, as text: capacities, widths, file names, registers."""
    caps = layout.caps
    values: dict[str, object] = {
        "LAYER_CAP": caps["layers"],
        "NEURON_CAP": caps["neurons"],
        "WEIGHT_CAP": caps["weights"],
        "WIDTH_CAP": caps["width"],
        "PENDING_CAP": caps["pending"],
        "DELAY_CAP": caps["delays"],
        "ACC_CAP": caps["acc_lines"],
        "WEIGHT_BITS": layout.weight_bits,
        "WEIGHT_SHIFT": WEIGHT_SHIFT,
        "SYN_LANES": layout.lanes,
        "LIF_LANES": layout.lif_lanes,
        "HAS_DELAY": int("delay" in layout.engines),
        "HAS_CONV": int("conv" in layout.engines),
        "LEAN": int(layout.lean),
        "IMAGE_LAYER_WORDS": LAYER_WORDS,
        "LAYER_TABLE_HEADER": TABLE_HEADER,
        "LAYER_TABLE_LAYER": TABLE_LAYER_WORDS,
        "LAYER_TABLE_WORDS": layout.table_words,
        "FIELDS": len(LAYER_FIELDS),
        "DENSE_FIELDS": DENSE_FIELDS,
        **{f"F_{name}": LAYER_FIELDS.index(name) for name in FIELD_DEFINES},
        "KIND_DELAY": SYNAPSE_KINDS.index("delay"),
        "KIND_CONV": SYNAPSE_KINDS.index("conv"),
        **{f"{part.upper()}_FILE": DATA_FILES[part][0] for part in TABLE_PARTS},
        "CONFIG_FILE": DATA_FILES["config"][0],
        "BIAS_FILE": DATA_FILES["bias"][0],
        "WEIGHT_FILE": DATA_FILES["weights"][0],
        "DELAY_FILE": DATA_FILES["delays"][0],
        "REG_GIE": regmap.GIE,
        "REG_IER": regmap.IER,
        "REG_ISR": regmap.ISR,
        "REG_ADDR_BITS": (regmap.RANGE - 1).bit_length(),
        **{f"REG_{name.upper()}": offset for name, offset in regmap.as_dict().items()},
    }
    del values["REG_RANGE"]
    return {key: str(value) for key, value in values.items()}


def write_sources(
    layout: RtlLayout,
    layers: list[Layer],
    out: Path,
    files: tuple[str, ...] = (CORE, HARNESS),
) -> list[Path]:
    """Write the header and the data files and copy the core's `files` (the Verilog and the
    harness of its simulation) into `out`; return every file."""
    text = fill_template(CORE_DIR / TEMPLATE, header_values(layout))
    out.mkdir(parents=True, exist_ok=True)
    header = out / HEADER
    atomic_write(header, text.encode())
    words = power_on_words(layout, parameter_image(layers)) | table_parts(layout)
    written = [header]
    for section, (name, bits) in DATA_FILES.items():
        atomic_write(out / name, hex_words(words[section], bits or layout.weight_bits).encode())
        written.append(out / name)
    for name in files:
        shutil.copyfile(CORE_DIR / name, out / name)
        written.append(out / name)
    return written


def copy_board_sources(out: Path, files: tuple[str, ...] = BOARD_FILES) -> list[Path]:
    """Copy a board top's own `files` (by default the ULX3S's: the top, its UART, its harness
    and pins) into a partition's sources `out`."""
    for name in files:
        shutil.copyfile(CORE_DIR / name, out / name)
    return [out / name for name in files]
