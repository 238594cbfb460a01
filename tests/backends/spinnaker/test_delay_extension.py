"""Delays longer than a core's ring go through delay-extension cores: on wide cores (rings of
16 or 8 slots) random delay layers equal the reference, spikes and Lava's delay buffers (the
rings plus what the extensions hold) alike, over split runs; the packet-level path steps as
the fast path over compiled or scrambled tables; extensions mirror their source's slices; a
build directory written without the population links is refused."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from snapdeploy.backends import CompiledPartition, get_backend
from snapdeploy.backends.spinnaker.delay_extension import Populations, history_bytes, stages_used
from snapdeploy.backends.spinnaker.emulator import Emulator
from snapdeploy.backends.spinnaker.mapping import PLACEMENTS_FILE
from snapdeploy.core.errors import BackendError
from snapdeploy.core.graph import SpikingOp
from snapdeploy.core.neuron import ReferenceNetwork
from snapdeploy.partition import SpikingPartition
from snapdeploy.targets.spec import SpiNNakerDevice
from tests.backends.spinnaker.cases import extension_boards, mapped, tampered
from tests.backends.spinnaker.test_conv_pool_delay import assert_same_states, run
from tests.strategies import params

WIDE_CORES = SpiNNakerDevice(
    name="wide", width=1, height=1, torus=False, cores_per_chip=8, neurons_per_core=1024,
    synapse_bytes_per_core=10**8, packet_energy_pj=0.0, hop_energy_pj=0.0,
)  # fmt: skip
SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(extension_boards())
def test_long_delays_through_extension_cores_equal_the_reference(case) -> None:
    device, layers, (spikes, split) = case
    mapping = mapped(device, layers)
    emulator = Emulator(mapping.board(), layers)
    assert emulator.fast_path is not None
    n_extensions = len(mapping.graph.population_names) - len(layers) - 1
    event(f"{n_extensions} extension stages")
    want_stages = sum(
        len(stages_used(layer, ring)) for layer, ring in zip(layers, emulator.tables.rings)
    )
    assert n_extensions == want_stages
    reference = ReferenceNetwork(layers)
    want = reference.run(spikes, record_all=True)
    for layer, (g, w) in enumerate(zip(run(emulator, spikes, split), want, strict=True)):
        np.testing.assert_array_equal(g, w, f"layer {layer}")
    assert_same_states(emulator.layer_states(), reference.states)
    assert emulator.stats.dropped == emulator.stats.misdelivered == 0


@SETTINGS
@given(extension_boards(), st.booleans(), st.integers(0, 2**32 - 1))
def test_the_packet_level_path_steps_as_the_fast_path_through_extensions(
    case, tamper, seed
) -> None:
    device, layers, (spikes, split) = case
    board = mapped(device, layers).board()
    if tamper:
        board = tampered(board, np.random.default_rng(seed))
    fast, packets = Emulator(board, layers), Emulator(board, layers, packet_level=True)
    for g, w in zip(run(fast, spikes, split), run(packets, spikes, split), strict=True):
        np.testing.assert_array_equal(g, w)
    assert_same_states(fast.layer_states(), packets.layer_states())
    assert fast.stats.to_json() == packets.stats.to_json()


def test_an_extension_mirrors_its_sources_slices_and_feeds_its_layer() -> None:
    weights = np.full((1100, 30), 2)
    delays = np.zeros((1100, 30), int)
    delays[:, 0] = 40  # stage 2 of a 16-slot ring; stages 1 and 3 unused
    layer = dataclasses.replace(params(weights, vth=1), delays=delays)
    graph = mapped(WIDE_CORES, [layer]).graph
    assert graph.population_names == ("input", "l0", "l0.delay32")
    assert graph.populations == Populations.of(1, [(0, 2, 16)])
    assert graph.populations.receives().tolist() == [
        [False, True, True], [False, False, False], [False, True, False]
    ]  # fmt: skip
    source, extension = graph.slices_of(0), graph.slices_of(2)
    np.testing.assert_array_equal(graph.lo[source], graph.lo[extension])
    np.testing.assert_array_equal(graph.hi[source], graph.hi[extension])
    assert graph.dtcm_bytes[extension].tolist() == [history_bytes(30, 32)] == [4 * 32]
    edges = set(zip(graph.edge_pre.tolist(), graph.edge_post.tolist()))
    assert (int(source[0]), int(extension[0])) in edges
    assert {b for a, b in edges if a == extension[0]} == set(graph.slices_of(1).tolist())


def test_placements_without_the_population_links_are_refused(tmp_path) -> None:
    """A build directory written before delay extensions: compile again, says the error."""
    layer = dataclasses.replace(params(np.full((3, 2), 2), vth=1), delays=np.ones((3, 2), int))
    partition = SpikingPartition("p1_spiking", 1, (SpikingOp("d", layer),), 2)
    backend = get_backend("spinnaker")
    compiled = backend.compile(partition, WIDE_CORES, tmp_path / "build")
    placed = json.loads((compiled.path / PLACEMENTS_FILE).read_text())
    for population in placed["populations"]:
        del population["feeds"]
    (compiled.path / PLACEMENTS_FILE).write_text(json.dumps(placed))
    with pytest.raises(BackendError, match=r"names no 'feeds'.*fix: compile the partition again"):
        backend.load(CompiledPartition.load(compiled.path))
