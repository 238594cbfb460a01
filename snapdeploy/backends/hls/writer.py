"""Writes a partition's HLS sources: the parameter header filled in, beside copies of the core.

Like hls4ml's writers, the C++ lives in real files under core/ (package data, readable and
compilable on their own); this module only fills the data placeholders of
`core/lif_params.h.in` and copies
the core's sources, so the build directory is what Vitis HLS would be given as is.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from snapdeploy.backends.fpga import regmap
from snapdeploy.backends.fpga.params import LAYER_WORDS, WEIGHT_SHIFT, Layer, parameter_image
from snapdeploy.backends.fpga.sources import fill_template
from snapdeploy.backends.hls.layout import SYNAPSE_KINDS, CoreLayout
from snapdeploy.core.files import atomic_write
from snapdeploy.core.resources import package_path

CORE_DIR = package_path("snapdeploy.backends.hls", "core")
TEMPLATE = "lif_params.h.in"
HEADER = "lif_params.h"
#: The core's sources, copied next to the header (lif_csim.cpp only feeds g++).
CORE_SOURCES = ("lif_core.h", "lif_core.cpp")
CSIM_SOURCES = ("lif_csim.cpp",)
#: Numbers per line in the header's long initializer lists.
PER_LINE = 24


def numbers(values: np.ndarray | list[int]) -> str:
    """Comma-separated integers, wrapped with backslash-newlines (valid inside a #define)."""
    flat = [str(int(v)) for v in np.asarray(values).ravel()]
    lines = [", ".join(flat[i : i + PER_LINE]) for i in range(0, len(flat), PER_LINE)]
    return ", \\\n    ".join(lines)


def header_values(layout: CoreLayout, layers: list[Layer]) -> dict[str, str]:
    """Every placeholder of the template, as text."""
    image = parameter_image(layers)
    regs = regmap.as_dict()
    values: dict[str, object] = {
        "PARTITION": layout.partition,
        "N_LAYERS": layout.n_layers,
        "N_IN": layout.n_in[0],
        "N_OUT": layout.n_out[-1],
        "N_NEURONS": layout.n_neurons,
        "N_WEIGHTS": layout.n_weights,
        "N_DELAYS": layout.n_delays,
        "N_PENDING": layout.n_pending,
        "MAX_WIDTH": max(layout.n_in + layout.n_out),
        "MAX_LANES": max(layout.lanes),
        "MAX_DENSE_IN": max(
            (i for i, k in zip(layout.n_in, layout.kinds) if k != "conv"), default=0
        ),
        "LAYER_N_IN": numbers(layout.n_in),
        "LAYER_N_OUT": numbers(layout.n_out),
        "LAYER_LANES": numbers(layout.lanes),
        "LAYER_W_BASE": numbers(layout.weight_bases),
        "LAYER_N_BASE": numbers(layout.neuron_bases),
        "LAYER_KIND": numbers([SYNAPSE_KINDS.index(kind) for kind in layout.kinds]),
        "LAYER_DEPTH": numbers(layout.depths),
        "LAYER_D_BASE": numbers(layout.delay_bases),
        "LAYER_P_BASE": numbers(layout.pending_bases),
        "LAYER_CONV": ", ".join(f"{{{numbers(g)}}}" for g in layout.geometries),
        "LIF_CORES": layout.lif_cores,
        "NEURONS_PER_CORE": layout.neurons_per_core,
        "WEIGHT_BITS": layout.weight_bits,
        "WEIGHT_SHIFT": WEIGHT_SHIFT,
        "STATE_BITS": layout.state_bits,
        "IMAGE_LAYER_WORDS": LAYER_WORDS,
        "IMAGE_BIAS_BASE": layout.bias_base,
        "IMAGE_WEIGHT_BASE": layout.weight_base,
        "IMAGE_DELAY_BASE": layout.delay_base,
        "IMAGE_WORDS": layout.image_words,
        "LAYER_CFG_INIT": numbers(image[: layout.bias_base]),
        "BIAS_INIT": numbers(image[layout.bias_base : layout.weight_base]),
        "WEIGHT_INIT": numbers(image[layout.weight_base : layout.delay_base]),
        "DELAY_INIT": numbers(image[layout.delay_base :]),
        **{f"REG_{name.upper()}": f"0x{offset:02x}" for name, offset in regs.items()},
    }
    return {key: str(value) for key, value in values.items()}


def write_sources(layout: CoreLayout, layers: list[Layer], out: Path) -> list[Path]:
    """Write the header and copy the core's sources into `out`; return every source file."""
    text = fill_template(CORE_DIR / TEMPLATE, header_values(layout, layers))
    out.mkdir(parents=True, exist_ok=True)
    header = out / HEADER
    atomic_write(header, text.encode())
    copied = []
    for name in CORE_SOURCES + CSIM_SOURCES:
        shutil.copyfile(CORE_DIR / name, out / name)
        copied.append(out / name)
    return [header, *copied]
