"""Benchmark a spiking conv layer on the reference against Lava's own simulator.

Why: convolution is where a spiking partition's synaptic events pile up (each input spike
reaches every output position and channel whose window holds it), and Lava's `Conv` is the
peer whose arithmetic the reference reproduces. Two layers of the sizes lava-dl ships: the
first conv of netx's tinynet (16x16x3 -> 6x6x24, 5x5 stride 2) and of its PilotNet
(200x66x3 -> 99x32x24, 3x3 stride 2), each a conv + LIF fed at 10% for T = 50, batch 1.
Both run the same partition: `ReferenceNetwork` (conv layers run numpy: one BLAS product per
kernel offset over every step at once) and the Lava backend's executor (Lava's `Conv` +
`LIF` processes, `fixed_pt`); outputs are checked equal before anything is timed, and Lava's
start-up is timed apart from its steps. Synaptic events are the (input spike, output neuron)
pairs the conv touched. HLS and the SpiNNaker emulator have no conv engine yet: their keys
are absent rather than guessed.

Run: `.venv/bin/python tools/bench_conv.py` -> bench/conv.json
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from snapdeploy.backends import get_backend
from snapdeploy.bench import best_time, write_bench
from snapdeploy.core.conv import ConvLayerParams, ConvSynapse
from snapdeploy.core.graph import SpikingOp
from snapdeploy.core.neuron import ReferenceNetwork
from snapdeploy.partition import SpikingPartition
from snapdeploy.targets import DEVICE_TYPES

RATE = 0.1
STEPS = 50
#: name: (input (x, y, channel), output channels, kernel, stride)
CASES = {
    "tinynet_conv1": ((16, 16, 3), 24, 5, 2),
    "pilotnet_conv1": ((200, 66, 3), 24, 3, 2),
}
HEADLINE_CASE = "pilotnet_conv1"


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
    with tempfile.TemporaryDirectory() as out:
        partition = SpikingPartition("bench", 0, (SpikingOp(name, params),), STEPS)
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
        "load_average_1min": os.getloadavg()[0],  # other work on the machine skews both
    }


def main() -> None:
    rng = np.random.default_rng(2026)
    results = [measure(name, rng) for name in CASES]
    main_case = next(r for r in results if r["case"] == HEADLINE_CASE)
    headline = {
        "reference_conv_vs_lava_speedup": main_case["ratio_lava_over_reference"],
        "reference_conv_events_per_s": main_case["reference_synaptic_events_per_s"],
        "lava_conv_events_per_s": main_case["lava_synaptic_events_per_s"],
    }
    path = write_bench("conv", headline, results, ["lava-nc", "scipy"])
    print(f"wrote {path}: {headline}")


if __name__ == "__main__":
    main()
