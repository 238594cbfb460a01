"""Benchmark the Zynq top's memory traffic: what the AXI4 bridge's bursts gain, in cycles.

Why: on a PYNQ-Z2 the core's buffers are in the PS's DDR behind S_AXI_HP0, tens of cycles
away; lif_axi4_master.v bursts the core's sequential 4-byte reads into a line and sends its
8-byte state words and its writes as single beats. This measures, in the Zynq top's
Verilator simulation (the slave model holding each read burst and write response back by a
fixed latency), the cycles per word of the parameter load (bursts) and of a batch item's
state in and out (single beats), and the cycles per step, at latency 0 and at an assumed
30 cycles (an estimate of the HP0-to-DDR round trip at 100 MHz, not measured on a board),
beside the core alone with its one-cycle memory. The partition is the RTL bench's headline
co-simulation case (256 x 256, T=20, 10% input), checked equal to the reference first.

Run: `.venv/bin/python tools/bench_zynq.py` -> bench/zynq.json (under a minute)
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from snapdeploy.backends.fpga import spikes
from snapdeploy.backends.fpga.driver import LifCoreDriver
from snapdeploy.backends.fpga.executor import FpgaExecutor
from snapdeploy.backends.fpga.params import parameter_image
from snapdeploy.backends.rtl.backend import RtlBackend
from snapdeploy.bench import bench_network, write_bench
from snapdeploy.targets.spec import RtlDevice

WIDTHS, STEPS, BATCH, RATE = (256, 256), 20, 8, 0.1
LATENCIES = (0, 30)
ZYNQ = RtlDevice(name="fpga", part="xc7z020", board="pynq-z2", neurons=1024)
CORE_ALONE = RtlDevice(name="fpga", part="lfe5u-85f", board="ulx3s", neurons=1024)


def traffic(compiled: Any, net: Any, latency: int | None) -> dict[str, Any]:
    """Cycles of a load, of a state pass (no step) and of STEPS steps of one batch item, on
    a fresh simulation (`latency` None: the core alone, whose memory answers next cycle)."""
    overlay, core = RtlBackend.simulation(compiled)
    if latency is not None:
        core.latency(latency)
    image = parameter_image(net.layers)
    with FpgaExecutor(LifCoreDriver(overlay), image, list(WIDTHS[1:]), WIDTHS[0]) as executor:
        if not np.array_equal(executor.run(net.spikes), net.per_layer[-1]):
            raise SystemExit(f"the simulation at latency {latency} disagrees with the reference")
    driver = LifCoreDriver(overlay)
    driver.load_params(image)
    load = core.cycles[-1]
    n = sum(WIDTHS[1:])
    state = driver.allocate((1, 3 * n), np.int64)
    frames_in = driver.allocate((1, STEPS, spikes.words_for(WIDTHS[0])), np.uint32)
    frames_out = driver.allocate((1, STEPS, spikes.words_for(WIDTHS[-1])), np.uint32)
    driver.run(frames_in[:, :0], frames_out[:, :0], state)
    state_pass = core.cycles[-1]
    spikes.pack(net.spikes[:, :1], frames_in)
    driver.run(frames_in, frames_out, state)
    steps = core.cycles[-1] - state_pass
    return {
        "latency_cycles": latency,
        "load_cycles": load,
        "load_words": len(image),
        "load_cycles_per_word": load / len(image),
        "state_pass_cycles": state_pass,
        "state_words": 6 * n,
        "state_cycles_per_word": state_pass / (6 * n),
        "cycles_per_step": steps / STEPS,
    }


def main() -> None:
    net = bench_network(WIDTHS, STEPS, BATCH, RATE)
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as scratch:
        zynq = RtlBackend().compile(net.partition, ZYNQ, Path(scratch) / "zynq")
        alone = RtlBackend().compile(net.partition, CORE_ALONE, Path(scratch) / "alone")
        for latency in LATENCIES:
            results.append({"case": "zynq top", **traffic(zynq, net, latency)})
        results.append({"case": "core alone", **traffic(alone, net, None)})
    slow = results[LATENCIES.index(30)]
    headline = {
        "assumed_latency_cycles": 30,
        "burst_load_cycles_per_word": slow["load_cycles_per_word"],
        "single_beat_state_cycles_per_word": slow["state_cycles_per_word"],
        "cycles_per_step_latency_0": results[0]["cycles_per_step"],
        "cycles_per_step_latency_30": slow["cycles_per_step"],
        "core_alone_cycles_per_step": results[-1]["cycles_per_step"],
    }
    note = os.environ.get("BENCH_NOTE")
    if note:
        results.append({"note": note})
    path = write_bench("zynq", headline, results, [])
    print(f"wrote {path}: {headline}")


if __name__ == "__main__":
    main()
