"""A core's DTCM: rings are the least power of two holding every delay, or what sPyNNaker's
ring index leaves beside the neuron bits; a slice is the widest whose state, rings and kernel
fit 64 KiB; a kernel whose one channel does not fit is refused with both numbers, by compile
too, before anything is written."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from snapdeploy.backends import get_backend
from snapdeploy.backends.spinnaker.core_memory import (
    DTCM_BYTES,
    dtcm_bytes,
    ring_slots,
    widest_slice,
)
from snapdeploy.backends.spinnaker.slicing import slice_network
from snapdeploy.core.conv import ConvLayerParams, ConvSynapse
from snapdeploy.core.errors import CapacityError
from snapdeploy.core.graph import SpikingOp
from snapdeploy.partition import SpikingPartition
from snapdeploy.targets.spec import SpiNNakerDevice
from tests.strategies import params

BIG_CORES = SpiNNakerDevice(
    name="big", width=1, height=1, torus=False, cores_per_chip=16, neurons_per_core=8192,
    synapse_bytes_per_core=10**8, packet_energy_pj=0.0, hop_energy_pj=0.0,
)  # fmt: skip


def delay_layer(max_delay: int, n: int = 300):
    dense = params(np.full((n, 2), 2), vth=1)
    delays = np.zeros((n, 2), int)
    delays[0, 0] = max_delay
    return dataclasses.replace(dense, delays=delays)


@pytest.mark.parametrize(
    ("max_delay", "width", "slots"),
    [(0, 256, 1), (1, 256, 2), (2, 256, 4), (3, 256, 4), (31, 256, 32), (62, 256, 64),
     (62, 300, 32), (62, 1024, 16), (5, 1024, 8), (62, 4096, 4)],
)  # fmt: skip
def test_a_ring_holds_the_longest_delay_or_what_the_ring_index_leaves(
    max_delay, width, slots
) -> None:
    """sPyNNaker's 14-bit ring index: a 256-neuron core holds 64 slots, a 1024-neuron one 16."""
    assert ring_slots(delay_layer(max_delay), width) == slots
    assert ring_slots(params(np.full((3, 2), 2)), width) == 1


@pytest.mark.parametrize("max_delay", [0, 7, 62])
def test_a_slice_is_the_widest_that_fits_dtcm(max_delay) -> None:
    layer = delay_layer(max_delay, n=8000)
    width = widest_slice("d", layer, BIG_CORES, 8000)

    def dtcm(w: int) -> int:
        return dtcm_bytes(layer, w, ring_slots(layer, w))

    assert dtcm(width) == width * (8 + 4 * ring_slots(layer, width)) <= DTCM_BYTES
    assert all(dtcm(w) > DTCM_BYTES for w in range(width + 1, 8001))


def test_a_slice_cut_for_synapse_memory_still_fits_dtcm_with_its_longer_ring() -> None:
    """8000 neurons of delays up to 62: DTCM alone allows 2730 (4-slot rings); synapse memory
    (two 4-byte synapses and two 12-byte rows a neuron) then allows 2000, whose rings have 8
    slots and need 80000 bytes, so DTCM cuts the slice again, to 1638."""
    layer = delay_layer(62, n=8000)
    assert widest_slice("d", layer, BIG_CORES, 8000) == 2730
    small = dataclasses.replace(BIG_CORES, synapse_bytes_per_core=8 * 2000 + 24)
    graph = slice_network(["d"], [layer], small)
    width = int((graph.hi - graph.lo)[graph.population == 1].max())
    assert width == 1638 and ring_slots(layer, width) == 8
    assert graph.dtcm_bytes.max() == 1638 * (8 + 4 * 8) <= DTCM_BYTES


def conv_layer(c_in: int) -> ConvLayerParams:
    conv = ConvSynapse(np.full((2, 11, 11, c_in), 2), (11, 11, c_in))
    return ConvLayerParams(conv, 0, 0, 1, np.zeros(conv.n_out, int), 0)


def test_a_kernel_slice_is_counted_per_channel_the_core_runs() -> None:
    layer = conv_layer(100)  # 12100 weights per output channel: 24200 bytes
    assert dtcm_bytes(layer, 1, 1) == 8 + 4 + 24200
    assert dtcm_bytes(layer, 2, 1) == 2 * 12 + 2 * 24200
    assert widest_slice("c", layer, BIG_CORES, 2) == 2


def test_a_kernel_channel_beyond_dtcm_is_refused_with_both_numbers(tmp_path: Path) -> None:
    layer = conv_layer(300)  # 36300 weights per output channel: 72600 bytes
    op = SpikingOp("wide", layer)
    partition = SpikingPartition("p1_spiking", 1, (op,), 2)
    with pytest.raises(CapacityError) as error:
        get_backend("spinnaker").compile(partition, BIG_CORES, tmp_path / "out")
    message = str(error.value)
    assert "layer 'wide'" in message and f"{8 + 4 + 72600} bytes" in message
    assert f"holds {DTCM_BYTES}" in message and "fix:" in message
    assert not (tmp_path / "out").exists()
