"""The SpiNNaker backend end to end: compile writes readable files, load runs them bit-exact
across split runs, what does not fit is refused with its numbers before anything is written,
link capacity drops packets, and the placement heuristic beats random placement."""

from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from snapdeploy.backends import get_backend
from snapdeploy.backends.spinnaker import map_network
from snapdeploy.backends.spinnaker.core_memory import DTCM_BYTES
from snapdeploy.backends.spinnaker.emulator import Emulator
from snapdeploy.backends.spinnaker.mapping import PLACEMENTS_FILE, TABLES_FILE
from snapdeploy.backends.spinnaker.mesh import Mesh
from snapdeploy.backends.spinnaker.placement import random_placement
from snapdeploy.core.conv import ConvLayerParams, ConvSynapse
from snapdeploy.core.errors import CapacityError
from snapdeploy.core.graph import SpikingOp
from snapdeploy.core.neuron import LifLayerParams, ReferenceNetwork
from snapdeploy.partition import SpikingPartition
from snapdeploy.targets import load_target
from snapdeploy.targets.spec import SpiNNakerDevice

SPINN3 = load_target("spinn-3").device("board")
SPINN5 = load_target("spinn-5").device("board")


def layer(
    n_in: int, n_out: int, rng: np.random.Generator, band: int | None = None
) -> LifLayerParams:
    """Random weights; with `band`, only pre neurons within `band` of the post neuron's place."""
    weights = 2 * rng.integers(-128, 128, (n_out, n_in))
    if band is not None:
        pre = np.arange(n_in)[None, :] / n_in
        post = np.arange(n_out)[:, None] / n_out
        weights = weights * (np.abs(pre - post) * n_in <= band)
    return LifLayerParams(weights, 0, 400, 200, 300, rng.integers(0, 64, n_out), 2)


def partition(
    sizes: list[int], rng: np.random.Generator, band: int | None = None
) -> SpikingPartition:
    ops = tuple(
        SpikingOp(f"layer{i}", layer(a, b, rng, band))
        for i, (a, b) in enumerate(itertools.pairwise(sizes))
    )
    return SpikingPartition("p1_spiking", 1, ops, steps=8)


def test_compile_writes_readable_files_and_load_runs_bit_exact(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    part = partition([300, 600, 500, 40], rng)
    backend = get_backend("spinnaker")
    compiled = backend.compile(part, SPINN3, tmp_path / "build")
    placed = json.loads((tmp_path / "build" / PLACEMENTS_FILE).read_text())
    tables = json.loads((tmp_path / "build" / TABLES_FILE).read_text())
    assert placed["cores_used"] == 2 + 3 + 2 + 1 == len(placed["slices"])
    # a Dense core's DTCM holds u, v and a one-slot input per neuron (an injector's nothing)
    for s in placed["slices"]:
        neurons = s["neurons"][1] - s["neurons"][0]
        assert s["dtcm_bytes"] == (0 if s["population"] == "input" else 12 * neurons)
    assert compiled.meta["max_dtcm_bytes"] == 12 * 256
    assert {tuple(s["chip"]) for s in placed["slices"]} <= {(0, 0), (0, 1), (1, 0), (1, 1)}
    assert len(tables["chips"]) == 4 and tables["router_entries"] == 1023
    assert all(
        e["key"].startswith("0x") and set(e["links"]) <= {"E", "NE", "N", "W", "SW", "S"}
        for chip in tables["chips"]
        for e in chip["entries"]
    )
    assert (tmp_path / "build" / "mesh.png").stat().st_size > 0

    executor = backend.load(compiled)
    spikes = rng.random((10, 2, 300)) < 0.2
    want = ReferenceNetwork(part.layers).run(spikes)[0]
    got = np.concatenate([executor.run(spikes[:4]), executor.run(spikes[4:])])
    np.testing.assert_array_equal(got, want)
    assert executor.stats.packets_sent > 0 and executor.stats.dropped == 0
    executor.reset()
    np.testing.assert_array_equal(executor.run(spikes), want)
    executor.close()


def test_too_many_cores_is_refused_with_the_numbers_and_nothing_written(tmp_path: Path) -> None:
    part = partition([8 * 30, 8 * 40], np.random.default_rng(2))
    device = dataclasses.replace(SPINN3, neurons_per_core=8)
    with pytest.raises(
        CapacityError, match=r"needs 70 cores \(input 30, layer0 40\).*4 chips x 16 cores = 64"
    ):
        get_backend("spinnaker").compile(part, device, tmp_path / "build")
    assert not (tmp_path / "build").exists()


def test_a_conv_kernel_too_large_for_one_core_spreads_its_channels_over_more_cores(
    tmp_path: Path,
) -> None:
    """A 3x3 conv of 64 to 64 channels keeps 73728 bytes of kernel, beyond a core's 64 KiB of
    DTCM: each core takes fewer channels, so the layer needs more cores than its neurons alone
    would; on a board too small that is refused with the numbers, nothing written."""
    conv = ConvSynapse(np.full((64, 3, 3, 64), 2), (4, 4, 64), padding=(1, 1))
    layer = ConvLayerParams(conv, 0, 0, 1, np.zeros(conv.n_out, int), 0)
    part = SpikingPartition("p1_spiking", 1, (SpikingOp("conv5", layer),), steps=2)
    graph = map_network(["conv5"], [layer], SPINN5, "test").graph
    widths = graph.hi[graph.slices_of(1)] - graph.lo[graph.slices_of(1)]
    assert widths.max() < 64 and graph.dtcm_bytes.max() <= DTCM_BYTES
    assert len(widths) == 19  # 1024 neurons, 56 channels' kernels (64512 bytes + state) each
    with pytest.raises(
        CapacityError, match=r"needs 23 cores \(input 4, conv5 19\).*1 chips x 16 cores = 16"
    ):
        get_backend("spinnaker").compile(part, dataclasses.replace(SPINN3, width=1, height=1),
                                         tmp_path / "build")  # fmt: skip
    assert not (tmp_path / "build").exists()


def test_a_table_that_cannot_be_compressed_to_fit_names_the_chip(tmp_path: Path) -> None:
    device = dataclasses.replace(SPINN3, router_entries=8)
    part = partition([2000, 2000, 2000], np.random.default_rng(3), band=2)
    with pytest.raises(
        CapacityError,
        match=r"table of chip \(0, 0\) has 9 entries after compression \(16 before\) but the router holds 8",
    ):
        get_backend("spinnaker").compile(part, device, tmp_path / "build")
    assert not (tmp_path / "build").exists()


def test_compression_makes_an_overfull_table_fit_and_stay_exact() -> None:
    rng = np.random.default_rng(4)
    layers = [layer(1200, 300, rng), layer(300, 300, rng)]
    loose = map_network(["a", "b"], layers, SPINN3, "test")
    before = max(loose.entries_before)
    tight = dataclasses.replace(SPINN3, router_entries=before - 1)
    mapping = map_network(["a", "b"], layers, tight, "test")
    assert max(len(t) for t in mapping.tables) < before
    emulator = Emulator(mapping.board(), layers)
    spikes = rng.random((6, 1, 1200)) < 0.1
    emulator.reset(1)
    got = np.stack([emulator.step(s)[-1] for s in spikes])
    np.testing.assert_array_equal(got, ReferenceNetwork(layers).run(spikes)[0])


def test_synapse_memory_and_key_bits_are_checked() -> None:
    rng = np.random.default_rng(5)
    small = dataclasses.replace(SPINN3, synapse_bytes_per_core=4000)
    mapping = map_network(["a"], [layer(50, 20, rng)], small, "test")
    assert int(mapping.graph.synapse_bytes.max()) <= 4000
    assert mapping.graph.hi[-1] - mapping.graph.lo[-1] <= 4000 // 800 < 20
    with pytest.raises(CapacityError, match=r"layer 'a': one neuron needs \d+ bytes .* holds 40"):
        map_network(
            ["a"],
            [layer(50, 20, rng)],
            dataclasses.replace(SPINN3, synapse_bytes_per_core=40),
            "test",
        )
    huge = SpiNNakerDevice(
        name="huge",
        width=4096,
        height=4096,
        torus=True,
        cores_per_chip=16,
        neurons_per_core=1024,
        synapse_bytes_per_core=1,
        packet_energy_pj=0,
        hop_energy_pj=0,
    )
    with pytest.raises(CapacityError, match="needs 38 bits"):
        map_network(["a"], [layer(5, 5, rng)], huge, "test")


def test_link_capacity_drops_packets_and_counts_them() -> None:
    rng = np.random.default_rng(6)
    layers = [layer(300, 300, rng), layer(300, 50, rng)]
    device = dataclasses.replace(SPINN5, link_capacity_per_step=5, neurons_per_core=16)
    mapping = map_network(["a", "b"], layers, device, "test")
    emulator = Emulator(mapping.board(), layers)
    emulator.reset(1)
    for spikes in rng.random((5, 1, 300)) < 0.3:
        emulator.step(spikes)
    stats = emulator.stats
    assert stats.dropped_link_capacity > 0
    assert stats.link_load.max() <= 5 * 5  # 5 steps x 5 packets per link and step


def test_placement_heuristic_needs_fewer_hops_than_random() -> None:
    rng = np.random.default_rng(7)
    layers = [layer(2000, 2000, rng, band=40), layer(2000, 2000, rng, band=40)]
    ours = map_network(["a", "b"], layers, SPINN5, "test")
    scattered = map_network(
        ["a", "b"],
        layers,
        SPINN5,
        "test",
        placements=random_placement(ours.graph, Mesh.of(SPINN5), 16, "test", seed=0),
    )
    assert ours.keys_per_link.sum() * 2 < scattered.keys_per_link.sum()
