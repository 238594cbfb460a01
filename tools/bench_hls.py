"""Benchmark the HLS core's C-simulation against the numpy reference on the same partitions.

Why: the C-simulation is how an FPGA deployment is checked without a board, so it must run
whole test sets quickly; the numpy reference is the peer doing the same integer work. Each
case is a spiking partition on the PYNQ-Z2 target's FPGA device (4 LIF cores of 256
neurons, 100 MHz), or where its weights do not fit the Zynq-7020's block RAM (1000 x 1000
8-bit weights are 8 Mbit against 4.9; compile refuses them) on the gpu-fpga target's Alveo
U250 device (16 cores of 1024, an assumed 300 MHz): compiled (g++, not timed), loaded through the PYNQ driver over the
emulated overlay, and run with random input spikes; its output spikes are checked equal to
the reference's before anything is timed. The C-sim time is the driver's whole `run` (spike
packing, register writes, flushes, the core, unpacking); the reference's is
`ReferenceNetwork.run`. Best of three runs each.

Also the FPGA estimate of `snapdeploy.backends.hls.estimate`: cycles per time step from the
core's loop structure (II = 1 loops times trip counts) with the mean input spikes per layer
this run measured, and the latency per step at the device's clock. An estimate, not a
synthesis or board measurement.

Run: `.venv/bin/python tools/bench_hls.py` -> bench/hls.json
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from rich.progress import Progress

from snapdeploy.backends.hls import HlsBackend
from snapdeploy.backends.hls.estimate import cycles_per_step, latency_us
from snapdeploy.backends.hls.layout import core_layout
from snapdeploy.bench import bench_network, best_time, write_bench
from snapdeploy.core.neuron import ReferenceNetwork
from snapdeploy.targets import load_target

DEVICE = "fpga"
#: (layer widths, steps, batch, input spike rate, target whose `DEVICE` runs it); the first
#: has the demo's spiking shape.
CASES = [
    ((128, 64), 4, 256, 0.2, "pynq-z2"),
    ((1000, 1000), 100, 1, 0.1, "gpu-fpga"),
    ((1000, 1000), 20, 32, 0.1, "gpu-fpga"),
    ((784, 512, 256), 20, 32, 0.1, "pynq-z2"),
]
HEADLINE_CASE = 2


def measure(
    widths: tuple[int, ...], steps: int, batch: int, rate: float, target: str
) -> dict[str, Any]:
    device = load_target(target).device(DEVICE)
    net = bench_network(widths, steps, batch, rate)
    partition = net.partition
    backend = HlsBackend()
    with tempfile.TemporaryDirectory() as out:
        executor = backend.load(backend.compile(partition, device, Path(out)))
        with executor:
            csim_s = net.timed_run(executor, "C-sim")
    reference = ReferenceNetwork(net.layers)
    reference_s = best_time(lambda: reference.run(net.spikes))
    inputs = [net.spikes, *net.per_layer[:-1]]
    events_per_layer = net.events_per_layer()
    synaptic_events = int(sum(s.sum() * p.n_out for s, p in zip(inputs, net.layers)))
    updates = steps * batch * sum(widths[1:])
    cycles = cycles_per_step(core_layout(partition, device), events_per_layer)
    return {
        "widths": list(widths),
        "target": target,
        "part": device.part,
        "steps": steps,
        "batch": batch,
        "input_rate": rate,
        "neuron_updates": updates,
        "synaptic_events": synaptic_events,
        "csim_s": csim_s,
        "reference_s": reference_s,
        "ratio_reference_over_csim": reference_s / csim_s,
        "csim_neuron_updates_per_s": updates / csim_s,
        "reference_neuron_updates_per_s": updates / reference_s,
        "csim_synaptic_events_per_s": synaptic_events / csim_s,
        "reference_synaptic_events_per_s": synaptic_events / reference_s,
        "mean_input_spikes_per_layer_step": events_per_layer,
        "fpga_cycles_per_step": cycles,
        "fpga_latency_us_per_step": latency_us(cycles, device.clock_mhz),
    }


def main() -> None:
    results = []
    with Progress() as bar:
        task = bar.add_task("HLS C-sim vs reference", total=len(CASES))
        for case in CASES:
            results.append(measure(*case))
            bar.advance(task)
    head = results[HEADLINE_CASE]
    headline = {
        "csim_neuron_updates_per_s": head["csim_neuron_updates_per_s"],
        "csim_vs_reference_speedup": head["ratio_reference_over_csim"],
        "fpga_cycles_per_step": head["fpga_cycles_per_step"],
        "fpga_latency_us_per_step": head["fpga_latency_us_per_step"],
    }
    note = os.environ.get("BENCH_NOTE")
    if note:
        results.append({"note": note})
    path = write_bench("hls", headline, results, ["pynq"])
    print(f"wrote {path}: {headline}")


if __name__ == "__main__":
    main()
