"""snapdeploy.report.chiplet: one sample's energy and latency through dies and links, and the
closed-form crossover and targets, checked against the priced sums they solve."""

from __future__ import annotations

import pytest

from snapdeploy.core.errors import ModelStructureError
from snapdeploy.report.chiplet import (
    CutCounts,
    class_link,
    crossover_pj_per_bit,
    gbps_for_latency_ratio,
    pj_per_bit_for_energy_ratio,
    price,
    sweep,
)
from snapdeploy.report.constants import load_constants
from snapdeploy.report.counts import Work
from snapdeploy.targets import LinkSpec, load_target

C = load_constants()
DIE = load_target("snap-3die").device("die0")  # 1.5 pJ/MAC, 1000 MAC/ns
DENSE = CutCounts((4e5, 6e5), (16 * 256.0,))
SPIKES = CutCounts((4e5, 6e5), (200.0,), (Work("b", "dense", "", "torch", 2, accumulates=900.0),))


def link(pj: float, gbps: float = 100.0, ns: float = 10.0) -> LinkSpec:
    return LinkSpec(src="a", dst="b", bandwidth_gbps=gbps, latency_ns=ns, energy_pj_per_bit=pj)


def test_price_is_die_macs_boundary_work_and_link_bits():
    p = price(SPIKES, DIE, link(2.0), C)
    adds = 900 * C.value("fp16_add_pj")
    assert p.compute_pj == pytest.approx(1e6 * 1.5 + adds)
    assert p.link_pj == pytest.approx(200 * 2.0)
    assert p.compute_ns == pytest.approx((1e6 + 900) / 1000)
    assert p.link_ns == pytest.approx(10 + 200 / 100)


def test_link_classes_take_their_sourced_constants():
    ucie = class_link("ucie-advanced")
    assert ucie.energy_pj_per_bit == C.value("ucie_advanced_pj_per_bit")
    assert ucie.bandwidth_gbps == C.value("ucie_advanced_gbps")


def test_at_the_crossover_both_cost_the_same_and_above_it_spikes_win():
    e = crossover_pj_per_bit(SPIKES, DENSE, DIE, C)
    assert price(SPIKES, DIE, link(e), C).energy_pj == pytest.approx(
        price(DENSE, DIE, link(e), C).energy_pj
    )
    assert (
        price(SPIKES, DIE, link(2 * e), C).energy_pj < price(DENSE, DIE, link(2 * e), C).energy_pj
    )
    assert crossover_pj_per_bit(DENSE, SPIKES, DIE, C) is None  # more bits never pay off


def test_ratio_targets_solve_their_equations():
    e = pj_per_bit_for_energy_ratio(5.3, SPIKES, DENSE, DIE, C)
    at = link(e)
    assert price(DENSE, DIE, at, C).energy_pj / price(
        SPIKES, DIE, at, C
    ).energy_pj == pytest.approx(5.3)
    g = gbps_for_latency_ratio(3.0, SPIKES, DENSE, DIE, link(1.0), C)
    at = link(1.0, gbps=g)
    assert price(DENSE, DIE, at, C).latency_ns / price(
        SPIKES, DIE, at, C
    ).latency_ns == pytest.approx(3.0)
    assert pj_per_bit_for_energy_ratio(30.0, SPIKES, DENSE, DIE, C) is None  # bits fall 20.5x


def test_sweep_curves_cross_one_at_the_crossover():
    e = crossover_pj_per_bit(SPIKES, DENSE, DIE, C)
    curves = sweep(SPIKES, DENSE, DIE, link(1.0), C, [e / 10, e, e * 10], [1.0, 1e4])
    low, mid, high = curves["energy_ratio"]
    assert low < 1 and mid == pytest.approx(1.0) and high > 1
    assert curves["latency_ratio"][0] > curves["latency_ratio"][1]


def test_counts_need_one_link_fewer_than_dies():
    with pytest.raises(ModelStructureError, match="3 dies need 2 links"):
        CutCounts((1.0, 2.0, 3.0), (8.0,))
