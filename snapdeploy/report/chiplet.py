"""Energy and latency of one sample (a token, an image) through a model cut into dies.

Measured counts in, sourced constants applied: each die's MACs (torch's FLOP counter on the
die's own forward) at the die's pJ/MAC and MAC/ns (a SNAP die target), the boundary's own
work on the dies beside it (encoder LIF updates, decoder spike adds and scales, spiking
projection layers' synaptic events), and each link's bits at its class's pJ/bit, latency
and bandwidth. Latency is one sample's way through the pipeline: every die's compute plus
every link's latency and serialization (`report.energy.link_cost`). Energy is linear in a
link's pJ/bit and latency in 1/bandwidth, so where spikes start to pay off (the crossover)
and what a given ratio would need are solved exactly, not read off a sweep.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from snapdeploy.core.errors import ModelStructureError
from snapdeploy.report.constants import Constants
from snapdeploy.report.counts import Work
from snapdeploy.report.energy import link_cost, torch_cost
from snapdeploy.targets.links import with_class_values
from snapdeploy.targets.spec import LinkSpec, TorchDevice


@dataclass(frozen=True)
class CutCounts:
    """Measured counts per sample of one encoding of a cut model's boundaries.

    `die_macs[k]` is die k's own compute; `boundary_work[k]` what the boundary after die k
    adds to the dies (zero work for a dense encoding); `link_bits[k]` what its link carries.
    """

    die_macs: tuple[float, ...]
    link_bits: tuple[float, ...]
    boundary_work: tuple[Work, ...] = ()

    def __post_init__(self) -> None:
        if len(self.link_bits) != len(self.die_macs) - 1:
            raise ModelStructureError(
                f"{len(self.die_macs)} dies need {len(self.die_macs) - 1} links, got "
                f"{len(self.link_bits)}"
            )


@dataclass(frozen=True)
class Priced:
    """One sample's energy (pJ) and latency (ns), split into compute and links."""

    compute_pj: float
    link_pj: float
    compute_ns: float
    link_ns: float

    @property
    def energy_pj(self) -> float:
        return self.compute_pj + self.link_pj

    @property
    def latency_ns(self) -> float:
        return self.compute_ns + self.link_ns


def class_link(name: str) -> LinkSpec:
    """A link of the named class (targets/links.py) with its sourced constants."""
    v = with_class_values({"class": name}, f"link class {name!r}")
    return LinkSpec(
        src="a",
        dst="b",
        bandwidth_gbps=v["bandwidth_gbps"],
        latency_ns=v["latency_ns"],
        energy_pj_per_bit=v["energy_pj_per_bit"],
        link_class=name,
    )


def compute(counts: CutCounts, die: TorchDevice, c: Constants) -> tuple[float, float]:
    """(pJ, ns) of every die's MACs and every boundary's own work, at the die's figures."""
    works = [
        Work(f"die{k}", "dense", "", "torch", 1, macs=m) for k, m in enumerate(counts.die_macs)
    ]
    costs = [torch_cost(w, die, c) for w in [*works, *counts.boundary_work]]
    return sum(x.energy_pj for x in costs), sum(x.latency_ns for x in costs)


def price(counts: CutCounts, die: TorchDevice, link: LinkSpec, c: Constants) -> Priced:
    """One sample through the dies of `die`'s figures joined by links like `link`."""
    pj, ns = compute(counts, die, c)
    links = [link_cost(bits, link) for bits in counts.link_bits]
    return Priced(pj, sum(x.energy_pj for x in links), ns, sum(x.latency_ns for x in links))


def crossover_pj_per_bit(
    spikes: CutCounts, dense: CutCounts, die: TorchDevice, c: Constants
) -> float | None:
    """The link energy per bit above which the spike links cost less energy in total than
    the dense ones (0 when they always do; None when they never do: no fewer bits)."""
    extra = compute(spikes, die, c)[0] - compute(dense, die, c)[0]
    saved = sum(dense.link_bits) - sum(spikes.link_bits)
    if saved <= 0:
        return None
    return max(extra / saved, 0.0)


def pj_per_bit_for_energy_ratio(
    ratio: float, spikes: CutCounts, dense: CutCounts, die: TorchDevice, c: Constants
) -> float | None:
    """The link pJ/bit at which dense / spikes energy reaches `ratio` (None: never, since the
    bits alone fall short of it)."""
    cs, cd = compute(spikes, die, c)[0], compute(dense, die, c)[0]
    bs, bd = sum(spikes.link_bits), sum(dense.link_bits)
    if bd <= ratio * bs:
        return None
    return max((ratio * cs - cd) / (bd - ratio * bs), 0.0)


def gbps_for_latency_ratio(
    ratio: float,
    spikes: CutCounts,
    dense: CutCounts,
    die: TorchDevice,
    link: LinkSpec,
    c: Constants,
) -> float | None:
    """The link bandwidth at or below which dense / spikes latency reaches `ratio` (links of
    `link`'s latency; None: never, since the bits alone fall short of it)."""
    ts, td = compute(spikes, die, c)[1], compute(dense, die, c)[1]
    bs, bd = sum(spikes.link_bits), sum(dense.link_bits)
    hops = len(spikes.link_bits)
    if bd <= ratio * bs:
        return None
    fixed = ratio * ts - td + (ratio - 1) * hops * link.latency_ns
    return (bd - ratio * bs) / fixed if fixed > 0 else float("inf")


def sweep(
    spikes: CutCounts,
    dense: CutCounts,
    die: TorchDevice,
    link: LinkSpec,
    c: Constants,
    pj_per_bit: Sequence[float],
    gbps: Sequence[float],
) -> dict[str, list[float]]:
    """Dense / spikes energy over `pj_per_bit` and latency over `gbps` (other figures the
    link's): the crossover plot's curves."""
    energy, latency = [], []
    for e in pj_per_bit:
        at = LinkSpec(
            src="a",
            dst="b",
            bandwidth_gbps=link.bandwidth_gbps,
            latency_ns=link.latency_ns,
            energy_pj_per_bit=e,
        )
        energy.append(price(dense, die, at, c).energy_pj / price(spikes, die, at, c).energy_pj)
    for g in gbps:
        at = LinkSpec(
            src="a",
            dst="b",
            bandwidth_gbps=g,
            latency_ns=link.latency_ns,
            energy_pj_per_bit=link.energy_pj_per_bit,
        )
        latency.append(price(dense, die, at, c).latency_ns / price(spikes, die, at, c).latency_ns)
    return {
        "pj_per_bit": list(pj_per_bit),
        "energy_ratio": energy,
        "gbps": list(gbps),
        "latency_ratio": latency,
    }
