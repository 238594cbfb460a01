"""The RTL core's optional engines: a partition's core is built with the conv engine and the
delay path only where its layers use them (the header's SNAP_HAS_*), and a layer whose engine
its core lacks is refused by name before anything is written or any model runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from snapdeploy.backends.rtl.backend import RtlBackend
from snapdeploy.backends.rtl.engines import ENGINES, MissingEngineError
from snapdeploy.backends.rtl.fit import memory_bits
from snapdeploy.backends.rtl.layout import rtl_layout, table_kinds
from snapdeploy.backends.rtl.sim import rtl_overlay
from snapdeploy.backends.rtl.writer import HEADER, write_sources
from snapdeploy.core.neuron import LifLayerParams
from snapdeploy.targets.spec import RtlDevice
from tests.backends.hls.test_hls_synapses import conv_pool_delay, neurons
from tests.models import spiking_partition

DEVICE = RtlDevice(name="fpga", part="lfe5u-85f", board="ulx3s", neurons=1024)


def dense() -> LifLayerParams:
    return LifLayerParams(2 * np.eye(4, dtype=np.int64), 0, **neurons(4))


def delayed() -> LifLayerParams:
    delays = np.random.default_rng(5).integers(0, 7, (4, 4))
    return LifLayerParams(2 * np.ones((4, 4), dtype=np.int64), -1, delays=delays, **neurons(4))


NETWORKS = {
    "dense": (lambda: [dense()], set()),
    "conv and pool": (lambda: conv_pool_delay()[:2], {"conv"}),
    "delay": (lambda: [delayed()], {"delay"}),
    "conv, pool and delay": (conv_pool_delay, {"conv", "delay"}),
}


@pytest.mark.parametrize("name", NETWORKS)
def test_the_header_builds_only_the_engines_the_layers_use(tmp_path: Path, name: str) -> None:
    network, want = NETWORKS[name]
    chosen = network()
    partition = spiking_partition(chosen)
    layout = rtl_layout(partition, DEVICE)
    assert layout.engines == want
    write_sources(layout, partition.layers, tmp_path)
    header = (tmp_path / HEADER).read_text()
    for engine in ENGINES:
        assert f"`define SNAP_HAS_{engine.upper()} {int(engine in want)}\n" in header
    assert (memory_bits(layout)["delays"] > 0) == ("delay" in want)


def test_a_core_without_an_engine_refuses_its_layer_before_writing(tmp_path: Path) -> None:
    partition = spiking_partition(conv_pool_delay())
    with pytest.raises(MissingEngineError, match=r"layer 0 needs the core's conv engine.*fix"):
        RtlBackend(frozenset({"delay"})).compile(partition, DEVICE, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    with pytest.raises(MissingEngineError, match=r"layer 2 needs the core's delay engine"):
        rtl_layout(partition, DEVICE, frozenset({"conv"}))


def test_a_layer_table_never_reaches_a_core_without_its_engine() -> None:
    """The overlay checks the table against the engines its library was built with before
    the model is opened (the library is not even loaded)."""
    table = rtl_layout(spiking_partition(conv_pool_delay()), DEVICE).layer_table()
    assert table_kinds(table) == ["conv", "conv", "delay"]
    with pytest.raises(MissingEngineError, match=r"layer 0 needs the core's conv engine"):
        rtl_overlay(Path("never-loaded.so"), table, frozenset({"delay"}))
    dense_table = rtl_layout(spiking_partition([dense()]), DEVICE).layer_table()
    assert table_kinds(dense_table) == ["dense"]
