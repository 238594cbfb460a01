"""Benchmark a spiking conv layer on the reference and every conv backend against Lava's own
simulator.

Why: convolution is where a spiking partition's synaptic events pile up (each input spike
reaches every output position and channel whose window holds it), and Lava's `Conv` is the
peer whose arithmetic the reference reproduces. Two layers of the sizes lava-dl ships: the
first conv of netx's tinynet (16x16x3 -> 6x6x24, 5x5 stride 2) and of its PilotNet
(200x66x3 -> 99x32x24, 3x3 stride 2), each a conv + LIF fed at 10% for T = 50, batch 1.
All run the same partition: `ReferenceNetwork` (its compiled conv kernel), the Lava backend's
executor (Lava's `Conv` + `LIF` processes, `fixed_pt`), and every other registered spiking
kind whose backend declares "conv" in its `layer_kinds` (the HLS core's C-simulation, the
SpiNNaker emulator), each compiled and loaded as a deployment would be;
outputs are checked equal to the reference before anything is timed, and Lava's start-up is
timed apart from its steps. A kind's time is its executor's `run` of the window (from a reset
state), best of three; an FPGA kind also gets its cycles per step as its backend prices them
(`cycles_per_step`; the HLS core's is an estimate from its loops, not a measurement).
Synaptic events are the (input spike, output neuron) pairs the conv touched. The HLS core
runs on the Alveo U250 device of the gpu-fpga target, given enough LIF cores of 1024
neurons for the layer: PilotNet's conv1 (76032 neurons) does not fit a
Zynq-7020's block RAM by the core's memory estimate.

Run: `.venv/bin/python tools/bench_conv.py` -> bench/conv.json
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from snapdeploy.backends import get_backend, registry
from snapdeploy.bench import best_time, write_bench
from snapdeploy.core.conv import ConvLayerParams, ConvSynapse
from snapdeploy.core.errors import CapacityError
from snapdeploy.core.graph import SpikingOp
from snapdeploy.core.neuron import ReferenceNetwork
from snapdeploy.partition import SpikingPartition
from snapdeploy.targets import DEVICE_TYPES, load_target, shipped_targets
from snapdeploy.targets.spec import DeviceSpec

RATE = 0.1
STEPS = 50
#: name: (input (x, y, channel), output channels, kernel, stride)
CASES = {
    "tinynet_conv1": ((16, 16, 3), 24, 5, 2),
    "pilotnet_conv1": ((200, 66, 3), 24, 3, 2),
}
HEADLINE_CASE = "pilotnet_conv1"
#: Measured on their own (the oracle and the peer); every other conv kind in the loop.
APART = ("reference", "lava")


def conv_kinds() -> list[str]:
    """The registered spiking kinds, beyond reference and Lava, that declare conv layers."""
    return [
        kind
        for kind in registry.registered_kinds("spiking")
        if kind not in APART and "conv" in get_backend(kind).layer_kinds
    ]


def candidate_devices(kind: str, neurons: int) -> Iterator[tuple[str, DeviceSpec]]:
    """Devices of `kind` to try, with where each comes from: for hls first the gpu-fpga
    target's Alveo U250 given enough LIF cores of its size, then the kind's smallest device
    holding `neurons`, then every shipped target's devices of the kind."""
    if kind == "hls":
        fpga = load_target("gpu-fpga").device("fpga")
        cores = max(fpga.lif_cores, -(-neurons // fpga.neurons_per_core))
        yield f"gpu-fpga's fpga with {cores} LIF cores", dataclasses.replace(fpga, lif_cores=cores)
    yield "holding()", DEVICE_TYPES[kind].holding(kind, neurons)
    for target in shipped_targets():
        for device in load_target(target).devices.values():
            if device.kind == kind:
                yield f"{target}'s {device.name}", device


def measure_kind(
    kind: str, partition: SpikingPartition, spikes: np.ndarray, want: np.ndarray, out: Path
) -> dict[str, Any]:
    """The best of three runs of `spikes` on `kind` (output checked first) on the first of
    its candidate devices that holds the partition; the refusals where none does."""
    backend = get_backend(kind)
    refusals = []
    for where, device in candidate_devices(kind, partition.n_neurons):
        try:
            compiled = backend.compile(partition, device, out / kind / str(len(refusals)))
        except CapacityError as error:
            refusals.append(f"{where}: {error}")
            continue
        with backend.load(compiled) as executor:
            if not np.array_equal(executor.run(spikes), want):
                raise SystemExit(f"{kind} and the reference disagree on {partition.ops[0].name}")

            def run() -> None:
                executor.reset()
                executor.run(spikes)

            events_in = float(spikes.sum()) / (spikes.shape[0] * spikes.shape[1])
            cycles = backend.cycles_per_step(partition, device, events_in)
            return {"device": where, "seconds": best_time(run), "cycles_per_step": cycles}
    return {"refused": refusals}


def conv_layer(
    shape: tuple[int, int, int], c_out: int, kernel: int, stride: int, rng
) -> ConvLayerParams:
    synapse = ConvSynapse(
        rng.integers(-20, 21, (c_out, kernel, kernel, shape[2])), shape, stride=(stride, stride)
    )
    bias = np.zeros(synapse.n_out, dtype=np.int64)
    return ConvLayerParams(synapse, du=400, dv=200, vth=60, bias_mant=bias, bias_exp=0)


def synaptic_events(synapse: ConvSynapse, spikes: np.ndarray) -> int:
    """(input spike, output neuron) pairs: the conv of the spikes with a kernel of ones."""
    ones = ConvSynapse(np.ones_like(synapse.weights), synapse.input_shape, synapse.stride,
                       synapse.padding, synapse.dilation, synapse.groups)  # fmt: skip
    return int(ones.sums(spikes).sum())


def measure(name: str, rng: np.random.Generator) -> dict[str, Any]:
    shape, c_out, kernel, stride = CASES[name]
    params = conv_layer(shape, c_out, kernel, stride, rng)
    params.validate(name)
    spikes = rng.random((STEPS, 1, params.n_in)) < RATE
    reference = ReferenceNetwork([params])
    want = reference.run(spikes)[0]
    ours = best_time(lambda: reference.run(spikes), repeats=5)
    kinds = {}
    with tempfile.TemporaryDirectory() as out:
        partition = SpikingPartition("bench", 0, (SpikingOp(name, params),), STEPS)
        for kind in conv_kinds():
            kinds[kind] = measure_kind(kind, partition, spikes, want, Path(out))
        backend = get_backend("lava")
        device = DEVICE_TYPES["lava"].holding("loihi", params.n_out)
        executor = backend.load(backend.compile(partition, device, Path(out)))
        with executor:
            executor.progress = False
            began = time.perf_counter()
            executor.network.start()
            startup = time.perf_counter() - began
            if not np.array_equal(executor.run(spikes), want):
                raise SystemExit(f"Lava and the reference disagree on {name}")
            executor.reset()
            lava = best_time(lambda: executor.run(spikes), repeats=3)
    events = synaptic_events(params.synapse, spikes[:, 0])
    per_kind: dict[str, Any] = {}
    for kind, run in kinds.items():
        if "refused" in run:
            per_kind[f"{kind}_refused"] = run["refused"]
            continue
        per_kind |= {
            f"{kind}_device": run["device"],
            f"{kind}_s": run["seconds"],
            f"ratio_lava_over_{kind}": lava / run["seconds"],
            f"{kind}_synaptic_events_per_s": events / run["seconds"],
        }
        if run["cycles_per_step"] is not None:  # an FPGA core's cycles (hls: an estimate)
            per_kind[f"{kind}_cycles_per_step"] = run["cycles_per_step"]
    return {
        "case": name,
        "input_shape": list(shape),
        "output_shape": list(params.synapse.output_shape),
        "kernel": kernel,
        "stride": stride,
        "steps": STEPS,
        "batch": 1,
        "input_rate": RATE,
        "output_spikes": int(want.sum()),
        "synaptic_events": events,
        "reference_s": ours,
        "lava_s": lava,
        "lava_startup_s": startup,
        "ratio_lava_over_reference": lava / ours,
        "reference_synaptic_events_per_s": events / ours,
        "lava_synaptic_events_per_s": events / lava,
        **per_kind,
        "load_average_1min": os.getloadavg()[0],  # other work on the machine skews both
    }


def main() -> None:
    rng = np.random.default_rng(2026)
    results = [measure(name, rng) for name in CASES]
    main_case = next(r for r in results if r["case"] == HEADLINE_CASE)
    measured = [kind for kind in conv_kinds() if f"{kind}_s" in main_case]
    headline = {
        "reference_conv_vs_lava_speedup": main_case["ratio_lava_over_reference"],
        "reference_conv_events_per_s": main_case["reference_synaptic_events_per_s"],
        "lava_conv_events_per_s": main_case["lava_synaptic_events_per_s"],
        **{
            f"{kind}_conv_events_per_s": main_case[f"{kind}_synaptic_events_per_s"]
            for kind in measured
        },
        **{f"{kind}_conv_vs_lava": main_case[f"ratio_lava_over_{kind}"] for kind in measured},
    }
    path = write_bench("conv", headline, results, ["lava-nc", "scipy"])
    print(f"wrote {path}: {headline}")


if __name__ == "__main__":
    main()
