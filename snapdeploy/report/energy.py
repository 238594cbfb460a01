"""The energy and latency model: measured counts priced with stated constants.

Per sample, each partition costs its operations times the per-operation energy of the device
it is placed on, and each boundary costs its bits times the link's pJ/bit, plus the link's
latency and serialization time. Constants come from `constants.toml` (each with a source);
what a target file carries (link bandwidth, latency, pJ/bit; SpiNNaker packet energy; FPGA
clock) overrides them. Every figure says which formula made it (`basis`).

Compute per cost model (each device kind's registry entry names its model):
- torch (a dense accelerator chip, or a die): MACs x (fp16 mult + add), or the die's own
  pj_per_mac; decoder spike counting x fp16 add; encoder LIF updates x (mult + 2 adds);
  time = all of them / dense_macs_per_ns, or the die's own macs_per_ns.
- loihi (reference and lava: Loihi's neuron, priced as Loihi): synaptic events x loihi_synop_pj +
  neuron updates x loihi_neuron_update_pj; time spread over ceil(neurons / neurons per core).
- fpga (hls, rtl): fpga_dynamic_power_w x cycles / clock, per step; the cycles are the
  device's `cycles_source` (the RTL core's are measured in simulation), else estimated.
- spinnaker: packets x the device's packet energy + synaptic events and neuron updates at
  the SpiNNaker constants; time = steps x the real-time step.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from snapdeploy.backends.registry import entry
from snapdeploy.core.errors import BackendError
from snapdeploy.report.constants import Constants
from snapdeploy.report.counts import Traffic, Work
from snapdeploy.targets import Target
from snapdeploy.targets.spec import DeviceSpec, LinkSpec

#: Boundary encodings compared: spikes as measured on the wire, and dense activations.
DENSE_BITS = {"fp16": 16, "int8": 8}


@dataclass(frozen=True)
class Cost:
    """Energy and latency of one sample through one partition or across one boundary."""

    energy_pj: float
    latency_ns: float
    basis: str


def torch_cost(work: Work, device: DeviceSpec | None, c: Constants) -> Cost:
    """A die's (or the dense accelerator's) MACs at its own pJ/MAC and MAC/ns where its
    target device gives them (SNAP die targets), else (or with no device) at the constants."""
    die_mac, die_rate = getattr(device, "pj_per_mac", None), getattr(device, "macs_per_ns", None)
    mac = die_mac or c.value("fp16_mult_pj") + c.value("fp16_add_pj")
    rate = die_rate or c.value("dense_macs_per_ns")
    update = c.value("fp16_mult_pj") + 2 * c.value("fp16_add_pj")
    energy = (
        work.macs * mac + work.accumulates * c.value("fp16_add_pj") + work.neuron_updates * update
    )
    ops = work.macs + work.accumulates + work.neuron_updates
    mac_basis = f"{die_mac:g} pJ/MAC (die)" if die_mac else "(fp16_mult_pj + fp16_add_pj)"
    rate_basis = f"{die_rate:g} MAC/ns (die)" if die_rate else "dense_macs_per_ns"
    return Cost(
        energy,
        ops / rate,
        f"MACs x {mac_basis} + spike adds x fp16_add_pj + encoder updates "
        f"x (fp16_mult_pj + 2 fp16_add_pj); time = ops / {rate_basis}",
    )


def loihi_cost(work: Work, device: DeviceSpec, c: Constants) -> Cost:
    energy = work.synaptic_events * c.value("loihi_synop_pj") + work.neuron_updates * c.value(
        "loihi_neuron_update_pj"
    )
    per_core = getattr(device, "neurons_per_core", None) or c.value("loihi_neurons_per_core")
    cores = max(1, math.ceil(work.neuron_updates / max(work.steps, 1) / per_core))
    busy = work.synaptic_events * c.value("loihi_synop_ns") + work.neuron_updates * c.value(
        "loihi_neuron_update_ns"
    )
    return Cost(
        energy,
        busy / cores,
        f"synaptic events x loihi_synop_pj + neuron updates x loihi_neuron_update_pj; "
        f"time = (events x loihi_synop_ns + updates x loihi_neuron_update_ns) / {cores} cores",
    )


def fpga_cost(work: Work, device: DeviceSpec, c: Constants) -> Cost:
    seconds = (work.fpga_cycles_per_step or 0.0) * work.steps / (device.clock_mhz * 1e6)
    cycles = getattr(device, "cycles_source", "estimated cycles")
    return Cost(
        c.value("fpga_dynamic_power_w") * seconds * 1e12,
        seconds * 1e9,
        f"fpga_dynamic_power_w x {cycles} x steps / {device.clock_mhz:g} MHz",
    )


def spinnaker_cost(work: Work, device: DeviceSpec, c: Constants) -> Cost:
    energy = (
        work.packets * device.packet_energy_pj
        + work.synaptic_events * c.value("spinnaker_synaptic_event_nj") * 1e3
        + work.neuron_updates * c.value("spinnaker_neuron_update_nj") * 1e3
    )
    return Cost(
        energy,
        work.steps * c.value("spinnaker_step_ns"),
        f"packets x {device.packet_energy_pj:g} pJ (target) + synaptic events x "
        f"spinnaker_synaptic_event_nj + neuron updates x spinnaker_neuron_update_nj; "
        f"time = steps x spinnaker_step_ns (hops not recorded)",
    )


#: Each kind's registry entry names one of these (`KindEntry.pricing`): the hardware class
#: whose constants price its work.
COST_MODELS: dict[str, Callable[[Work, DeviceSpec, Constants], Cost]] = {
    "torch": torch_cost,
    "loihi": loihi_cost,
    "fpga": fpga_cost,
    "spinnaker": spinnaker_cost,
}


def partition_cost(work: Work, device: DeviceSpec, c: Constants) -> Cost:
    """What one sample costs on the partition's device, priced by its kind's cost model."""
    pricing = entry(device.kind).pricing
    if pricing not in COST_MODELS:
        raise BackendError(
            f"device kind '{device.kind}' is priced as '{pricing}', which report.energy does "
            f"not know; fix: register the kind with one of {', '.join(COST_MODELS)}"
        )
    return COST_MODELS[pricing](work, device, c)


def link_cost(bits: float, link: LinkSpec | None) -> Cost:
    """`bits` across `link`: energy per bit, plus its latency and serialization time."""
    if link is None:
        return Cost(0.0, 0.0, "no link between the devices (same device): not priced")
    return Cost(
        bits * link.energy_pj_per_bit,
        link.latency_ns + bits / link.bandwidth_gbps,
        f"bits x {link.energy_pj_per_bit:g} pJ/bit; {link.latency_ns:g} ns + bits / "
        f"{link.bandwidth_gbps:g} Gbit/s",
    )


def boundary_costs(traffic: Traffic, link: LinkSpec | None) -> dict[str, Any]:
    """The boundary priced as measured spikes and as each dense encoding of its activation."""
    spike_bits = traffic.wire_bits_per_sample
    record: dict[str, Any] = {
        "spikes": None
        if spike_bits is None
        else {"bits": spike_bits, **asdict(link_cost(spike_bits, link))},
    }
    for name, width in DENSE_BITS.items():
        bits = traffic.dense_bits_per_sample(width)
        record[name] = {"bits": bits, **asdict(link_cost(bits, link))}
    return record


def ratio(num: float | None, den: float | None) -> float | None:
    return num / den if num is not None and den else None


def estimate(
    work: list[Work], traffic: list[Traffic], target: Target, constants: Constants
) -> dict[str, Any]:
    """Per-sample energy and latency of every partition and boundary, and totals for the
    boundaries carrying spikes (as measured) or fp16 / int8 activations (compute unchanged).

    A total counts each link's latency once: the frames of successive steps are in flight
    together, so one sample pays the latency once plus the serialization of all its bits."""
    devices = []
    for w in work:
        cost = partition_cost(w, target.device(w.device), constants)
        devices.append(
            {
                "partition": w.partition,
                "kind": w.kind,
                "device": w.device,
                "device_kind": w.device_kind,
                "counts": counts_json(w),
                **asdict(cost),
                "unmeasured": list(w.unmeasured),
            }
        )
    links = []
    for t in traffic:
        link = (
            target.link_between(t.src_device, t.dst_device)
            if t.src_device != t.dst_device
            else None
        )
        links.append(
            {
                "boundary": t.boundary,
                "from": t.src_device,
                "to": t.dst_device,
                "link": None if link is None else asdict(link),
                "samples": t.samples,
                **boundary_costs(t, link),
            }
        )
    compute_pj = sum(d["energy_pj"] for d in devices)
    compute_ns = sum(d["latency_ns"] for d in devices)
    totals: dict[str, Any] = {}
    for name in ("spikes", *DENSE_BITS):
        priced = [l[name] for l in links]
        measured = all(p is not None for p in priced)
        totals[name] = {
            "energy_pj": compute_pj + sum(p["energy_pj"] for p in priced) if measured else None,
            "latency_ns": compute_ns + sum(p["latency_ns"] for p in priced) if measured else None,
            "link_energy_pj": sum(p["energy_pj"] for p in priced) if measured else None,
            "link_latency_ns": sum(p["latency_ns"] for p in priced) if measured else None,
        }
    totals["compute"] = {"energy_pj": compute_pj, "latency_ns": compute_ns}
    spikes, fp16 = totals["spikes"], totals["fp16"]
    return {
        "per": "sample",
        "devices": devices,
        "links": links,
        "totals": totals,
        "fp16_over_spikes": {
            "energy": ratio(fp16["energy_pj"], spikes["energy_pj"]),
            "latency": ratio(fp16["latency_ns"], spikes["latency_ns"]),
            "link_energy": ratio(fp16["link_energy_pj"], spikes["link_energy_pj"]),
        },
        "constants": constants.to_json(),
    }


def counts_json(work: Work) -> dict[str, Any]:
    return {
        k: v
        for k, v in asdict(work).items()
        if k not in ("partition", "kind", "device", "device_kind", "unmeasured")
    }


def per_step_latency(estimate_: dict[str, Any], traffic: list[Traffic]) -> list[dict[str, float]]:
    """Latency of each step, compute vs link: partitions' time spread evenly over the steps;
    each link's bits apportioned to steps by the spikes counted in each (all steps pay the
    link's latency, since every step is one frame)."""
    steps = max((t.steps for t in traffic), default=0) or max(
        (d["counts"]["steps"] for d in estimate_["devices"]), default=1
    )
    compute = estimate_["totals"]["compute"]["latency_ns"] / steps
    rows = [{"step": s, "compute_ns": compute, "link_ns": 0.0} for s in range(steps)]
    for t, priced in zip(traffic, estimate_["links"]):
        link = priced["link"]
        bits = priced["spikes"]["bits"] if priced["spikes"] else 0.0
        if link is None:
            continue
        total = sum(t.spikes_per_step) or 0
        for s, row in enumerate(rows[: t.steps]):
            share = t.spikes_per_step[s] / total if total else 1.0 / t.steps
            row["link_ns"] += link["latency_ns"] + bits * share / link["bandwidth_gbps"]
    return rows
