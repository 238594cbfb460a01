"""The RTL build directory: the header holds only capacities, widths and the register map
(so partitions of one capacity share it), the data files hold the partition's words."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from snapdeploy.backends.fpga import regmap
from snapdeploy.backends.rtl.layout import (
    DENSE_FIELDS,
    FLOORS,
    SYN_LANES,
    TABLE_LAYER_WORDS,
    capacity,
    rtl_layout,
)
from snapdeploy.backends.rtl.writer import DATA_FILES, HEADER, write_sources
from snapdeploy.core.neuron import LifLayerParams
from snapdeploy.targets.spec import RtlDevice
from tests.models import spiking_partition

DEVICE = RtlDevice(name="fpga", part="xc7z020", board="pynq-z2", neurons=4096)


def written(layers: list[LifLayerParams], out: Path) -> Path:
    partition = spiking_partition(layers)
    write_sources(rtl_layout(partition, DEVICE), partition.layers, out)
    return out


@pytest.mark.parametrize(
    ("size", "floor", "want"), [(1, 4, 4), (4, 4, 4), (5, 4, 8), (300, 256, 512), (64, 64, 64)]
)
def test_capacity_is_a_power_of_two_above_size_and_floor(size: int, floor: int, want: int) -> None:
    assert capacity(size, floor) == want


def test_build_directory_holds_the_partition_as_data(tmp_path: Path) -> None:
    layers = [
        LifLayerParams(
            np.array([[2, -4], [6, 254], [0, -256]]), -3, 11, 22, 33, np.array([7, -8, 1]), 4
        ),
        LifLayerParams(
            np.array([[2, 4, 6]]), 5, 0, 4095, 9, np.array([-4096]), 0, reset="subtract"
        ),
    ]
    out = written(layers, tmp_path)
    header = (out / HEADER).read_text()
    assert "{{" not in header
    assert f"`define SNAP_REG_LOAD {regmap.LOAD}" in header
    assert f"`define SNAP_NEURON_CAP {FLOORS['neurons']}" in header

    def words(section: str, lanes: int = 1) -> list[int]:
        """The file's words, each line split into `lanes` lanes (lane 0 first)."""
        name, bits = DATA_FILES[section]
        bits = bits or DEVICE.weight_bits
        lines = [int(line, 16) for line in (out / name).read_text().split()]
        values = [(line >> (bits * k)) & ((1 << bits) - 1) for line in lines for k in range(lanes)]
        return [v - (1 << bits) if v >> (bits - 1) else v for v in values]

    # header: layers, neurons, weights, n_in, n_out, image words (6 x 2 + 4 + 9), layer words,
    # pending activations
    assert words("table_head") == [2, 4, 9, 2, 1, 25, 12, 4]
    # each layer's n_in, n_out, weight base (a line: the first layer's 2 rows take 2), neuron
    # base, engine (Dense), lines per row, weights per row, depth, pending and delay bases;
    # no conv geometry
    entries = words("table_layers")
    assert len(entries) == TABLE_LAYER_WORDS * FLOORS["layers"]
    assert entries[:DENSE_FIELDS] == [2, 3, 0, 0, 0, 1, 3, 1, 0, 0]
    second = entries[TABLE_LAYER_WORDS : TABLE_LAYER_WORDS + DENSE_FIELDS]
    assert second == [3, 1, 2, 3, 0, 1, 1, 1, 3, 0]
    assert not any(entries[DENSE_FIELDS:TABLE_LAYER_WORDS])
    # the load blocks: each layer's rows and weights per row
    assert words("table_blocks")[:6] == [2, 3, 3, 1, 0, 0]
    # weight_exp, du, dv, vth, bias_exp and the reset word (1: subtract) of each layer
    assert words("config")[:12] == [-3, 11, 22, 33, 4, 0, 5, 0, 4095, 9, 0, 1]
    assert words("bias")[:4] == [7, -8, 1, -4096]
    # input-major mantissas (weight / 2), each row padded with zeros to a line of SYN_LANES
    lanes = words("weights", SYN_LANES)
    rows = [lanes[k * SYN_LANES : (k + 1) * SYN_LANES] for k in range(5)]
    pad = [0] * (SYN_LANES - 3)
    assert rows[:2] == [[1, 3, 0, *pad], [-2, 127, -128, *pad]]
    assert rows[2:] == [[w, 0, 0, *pad] for w in (1, 2, 3)]
    assert not any(lanes[5 * SYN_LANES :])
    assert len(lanes) == FLOORS["weights"]


def test_partitions_of_one_capacity_share_the_header(tmp_path: Path) -> None:
    one = written(
        [LifLayerParams(np.full((3, 2), 2), 0, 0, 0, 1, np.zeros(3, int), 0)], tmp_path / "a"
    )
    two = written(
        [LifLayerParams(np.full((9, 40), -2), 1, 2, 3, 4, np.ones(9, int), 5)], tmp_path / "b"
    )
    assert (one / HEADER).read_bytes() == (two / HEADER).read_bytes()
    assert (one / DATA_FILES["weights"][0]).read_bytes() != (
        two / DATA_FILES["weights"][0]
    ).read_bytes()
