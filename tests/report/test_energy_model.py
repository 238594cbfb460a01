"""The energy and latency model's arithmetic on counts small enough to check by hand, and
the constants file: every constant has a unit and a source, malformed files are refused."""

from __future__ import annotations

import pytest

from snapdeploy.report.constants import CONSTANTS_FILE, ConstantsError, load_constants
from snapdeploy.report.counts import Traffic, Work
from snapdeploy.report.energy import estimate, link_cost, partition_cost, per_step_latency
from snapdeploy.targets.spec import (
    HlsDevice,
    LavaDevice,
    LinkSpec,
    ReferenceDevice,
    SpiNNakerDevice,
    Target,
    TorchDevice,
)

C = load_constants()
LINK = LinkSpec(src="a", dst="b", bandwidth_gbps=100.0, latency_ns=10.0, energy_pj_per_bit=2.0)


def test_every_constant_has_a_value_unit_and_source():
    assert len(C) >= 20
    for name, constant in C.items():
        assert constant.value >= 0, name
        assert constant.unit.strip(), name
        assert len(constant.source) > 10, name
    assumed = {n for n, c in C.items() if "assumed" in c.source}
    assert "dense_macs_per_ns" in assumed and "fpga_dynamic_power_w" in assumed
    assert "loihi_synop_pj" not in assumed  # a published figure (Davies et al. 2018)


@pytest.mark.parametrize(
    "entry, problem",
    [
        ('[x]\nvalue = 1.0\nunit = "pJ"\nsource = ""\n', "no source"),
        ('[x]\nvalue = 1.0\nunit = "pJ"\n', "exactly value, unit and source"),
        ('[x]\nvalue = "big"\nunit = "pJ"\nsource = "s"\n', "not a number"),
        ("[x\n", "cannot read"),
    ],
)
def test_a_constant_without_a_source_or_number_is_refused(tmp_path, entry, problem):
    path = tmp_path / "constants.toml"
    path.write_text(entry)
    with pytest.raises(ConstantsError, match=problem):
        load_constants(path)


def test_a_missing_constant_is_named():
    with pytest.raises(ConstantsError, match=r"constants.toml: no constant \[nope\]"):
        C.value("nope")
    assert CONSTANTS_FILE.name == "constants.toml"


def work(kind: str, device_kind: str, **counts) -> Work:
    return Work("p", kind, "d", device_kind, steps=4, **counts)


def test_dense_compute_is_priced_per_mac_add_and_update():
    cost = partition_cost(
        work("dense", "torch", macs=1000, accumulates=10, neuron_updates=20),
        TorchDevice(name="d"),
        C,
    )
    # Horowitz 45 nm: MAC = 1.1 + 0.4, add = 0.4, encoder update = 1.1 + 2 x 0.4
    assert cost.energy_pj == pytest.approx(1000 * 1.5 + 10 * 0.4 + 20 * 1.9)
    assert cost.latency_ns == pytest.approx(1030 / 1000.0)


def test_loihi_priced_spiking_compute_spreads_time_over_cores():
    counts = {"synaptic_events": 100, "neuron_updates": 4 * 2048}  # 2048 neurons, 4 steps
    cost = partition_cost(
        work("spiking", "lava", **counts), LavaDevice(name="d", neurons_per_core=1024), C
    )
    assert cost.energy_pj == pytest.approx(100 * 23.6 + 8192 * 81.0)
    assert cost.latency_ns == pytest.approx((100 * 3.5 + 8192 * 8.4) / 2)
    reference = partition_cost(work("spiking", "reference", **counts), ReferenceDevice(name="d"), C)
    assert reference.energy_pj == cost.energy_pj  # priced as Loihi, 1024 neurons per core


def test_spinnaker_uses_the_targets_packet_energy():
    device = SpiNNakerDevice(
        name="d",
        width=2,
        height=2,
        torus=True,
        cores_per_chip=16,
        neurons_per_core=256,
        synapse_bytes_per_core=1000,
        packet_energy_pj=7.0,
        hop_energy_pj=1.0,
    )
    cost = partition_cost(
        work("spiking", "spinnaker", packets=3, synaptic_events=2, neuron_updates=5), device, C
    )
    assert cost.energy_pj == pytest.approx(3 * 7.0 + 2 * 8000.0 + 5 * 10000.0)
    assert cost.latency_ns == pytest.approx(4 * 1e6)


def test_fpga_energy_is_power_times_estimated_time():
    device = HlsDevice(
        name="d", part="x", board="b", lif_cores=1, neurons_per_core=8, clock_mhz=100.0
    )
    cost = partition_cost(work("spiking", "hls", fpga_cycles_per_step=250.0), device, C)
    seconds = 250 * 4 / 100e6  # 4 steps at 100 MHz = 10 us
    assert cost.latency_ns == pytest.approx(seconds * 1e9)
    assert cost.energy_pj == pytest.approx(0.5 * seconds * 1e12)


def test_a_link_costs_energy_per_bit_plus_latency_and_serialization():
    cost = link_cost(1000.0, LINK)
    assert cost.energy_pj == 2000.0
    assert cost.latency_ns == pytest.approx(10.0 + 1000 / 100.0)
    assert link_cost(1000.0, None).energy_pj == 0.0


def two_chip_target() -> Target:
    return Target(
        "t", "", CONSTANTS_FILE, {"a": TorchDevice(name="a"), "b": TorchDevice(name="b")}, [LINK]
    )


def test_estimate_totals_and_ratios_by_hand():
    works = [
        Work("p0", "dense", "a", "torch", 4, macs=1000, neuron_updates=40),
        Work("p1", "dense", "b", "torch", 4, macs=100, accumulates=5),
    ]
    traffic = [
        Traffic(
            0,
            "a",
            "b",
            True,
            width=10,
            steps=4,
            samples=2,
            packets=8,
            wire_bytes=20,
            spikes=10,
            spikes_per_step=[4, 3, 2, 1],
        )
    ]
    result = estimate(works, traffic, two_chip_target(), C)
    compute = (1000 * 1.5 + 40 * 1.9) + (100 * 1.5 + 5 * 0.4)
    spike_bits = 8 * 20 / 2
    spikes, fp16 = result["totals"]["spikes"], result["totals"]["fp16"]
    assert spikes["energy_pj"] == pytest.approx(compute + spike_bits * 2.0)
    assert fp16["energy_pj"] == pytest.approx(compute + 160 * 2.0)
    assert result["totals"]["int8"]["link_energy_pj"] == pytest.approx(80 * 2.0)
    assert spikes["latency_ns"] == pytest.approx((1040 + 105) / 1000 + 10 + spike_bits / 100)
    assert result["fp16_over_spikes"]["link_energy"] == pytest.approx(160 / spike_bits)
    assert result["fp16_over_spikes"]["energy"] == pytest.approx(
        fp16["energy_pj"] / spikes["energy_pj"]
    )
    rows = per_step_latency(result, traffic)
    assert [r["step"] for r in rows] == [0, 1, 2, 3]
    assert rows[0]["link_ns"] == pytest.approx(10 + spike_bits * 0.4 / 100)
    assert sum(r["compute_ns"] for r in rows) == pytest.approx(
        result["totals"]["compute"]["latency_ns"]
    )


def test_zero_counts_give_zero_spike_traffic_not_a_crash():
    works = [Work("p0", "dense", "a", "torch", 4), Work("p1", "dense", "b", "torch", 4)]
    traffic = [Traffic(0, "a", "b", True, width=10, steps=4, spikes_per_step=[0, 0, 0, 0])]
    result = estimate(works, traffic, two_chip_target(), C)
    assert result["links"][0]["spikes"] is None  # nothing ran: not measured, not zero
    assert result["totals"]["spikes"]["energy_pj"] is None
    assert result["fp16_over_spikes"]["energy"] is None
    assert result["totals"]["fp16"]["energy_pj"] == pytest.approx(160 * 2.0)
    assert all(r["compute_ns"] == 0 for r in per_step_latency(result, traffic))
