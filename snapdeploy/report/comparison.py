"""The SNAP comparison: a non-spiking baseline priced with the same model as a deployment.

The baseline is the same dense network split over the same chips, each boundary carrying
its activation as fp16; its work is only the dense layers' MACs (no encoders or decoders).
The deployment's figures are its measured counts priced by `energy.estimate`. Ratios are
baseline over deployment, so above 1 means the spikes saved.
"""

from __future__ import annotations

from typing import Any

from snapdeploy.core.extras import needs
from snapdeploy.report.constants import Constants
from snapdeploy.report.counts import Work, module_macs
from snapdeploy.report.energy import DENSE_BITS, link_cost, ratio, torch_cost
from snapdeploy.targets.spec import LinkSpec

with needs("train", __name__):
    from torch import nn


def baseline_cost(
    segments: list[nn.Module],
    input_shape: tuple[int, ...],
    links: list[LinkSpec],
    constants: Constants,
) -> dict[str, float]:
    """Energy and latency per sample of dense `segments`, one per chip, joined by `links`
    that carry each segment's output (all but the last) as fp16."""
    energy = latency = link_energy = link_latency = 0.0
    shape = input_shape
    for index, segment in enumerate(segments):
        macs, shape = module_macs(segment, shape)
        work = Work(f"segment{index}", "dense", "", "torch", 1, macs=macs)
        compute = torch_cost(work, None, constants)
        energy, latency = energy + compute.energy_pj, latency + compute.latency_ns
        if index < len(links):
            bits = DENSE_BITS["fp16"] * int(_numel(shape))
            cost = link_cost(bits, links[index])
            energy, latency = energy + cost.energy_pj, latency + cost.latency_ns
            link_energy, link_latency = link_energy + cost.energy_pj, link_latency + cost.latency_ns
    return {
        "energy_pj": energy,
        "latency_ns": latency,
        "link_energy_pj": link_energy,
        "link_latency_ns": link_latency,
    }


def _numel(shape: tuple[int, ...]) -> int:
    count = 1
    for size in shape:
        count *= size
    return count


def versus(baseline: dict[str, float], deployed: dict[str, Any]) -> dict[str, float | None]:
    """Baseline over deployment for energy and latency (the deployment's spike totals)."""
    spikes = deployed["totals"]["spikes"]
    return {
        "energy_ratio": ratio(baseline["energy_pj"], spikes["energy_pj"]),
        "latency_ratio": ratio(baseline["latency_ns"], spikes["latency_ns"]),
    }


def pick_headline(rows: list[dict[str, Any]], loss_key: str, budget: float) -> dict[str, Any]:
    """The row with the most byte savings whose loss is within `budget`; if none is, the row
    with the smallest loss (and `within_budget` says so)."""
    within = [r for r in rows if r[loss_key] <= budget]
    if within:
        return {**max(within, key=lambda r: r["bytes_fp16_over_spikes"]), "within_budget": True}
    return {**min(rows, key=lambda r: r[loss_key]), "within_budget": False}
