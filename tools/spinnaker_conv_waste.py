"""How many of a conv layer's packet deliveries on the SpiNNaker emulator are wasted, and how many
finer routing keys would save.

Why: a conv core runs a contiguous range of output neurons (a band of one output row when a
row does not fit a core), but routing is per source slice (one key and mask for all its
neurons), so each core receives every packet of every input slice that has some neuron
reaching its band; most of those neurons reach other bands. The emulator counts such copies
as `no_synaptic_row`. Measured here on bench_conv.py's layers (the same seeds, inputs at
RATE for STEPS steps, output checked equal to the reference first), then estimated for a
key/mask scheme that routes blocks of `block` neurons of a source slice on their own (one
entry per block at the source, each block sent only to the cores some neuron of it reaches;
cores unchanged): for uniform input, a neuron's deliveries are the cores its routing unit
reaches, its useful ones the cores it reaches itself (`input_reach`, the backend's). The
estimate with the slice as the unit is checked against the measurement.

Run: `.venv/bin/python tools/spinnaker_conv_waste.py` -> bench/spinnaker_conv_waste.json
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_conv import CASES, HEADLINE_CASE, RATE, STEPS, candidate_devices, conv_layer

from snapdeploy.backends import get_backend
from snapdeploy.backends.spinnaker.conv_slicing import input_reach
from snapdeploy.bench import write_bench
from snapdeploy.core.conv import ConvLayerParams
from snapdeploy.core.errors import CapacityError
from snapdeploy.core.graph import SpikingOp
from snapdeploy.core.neuron import ReferenceNetwork
from snapdeploy.partition import SpikingPartition

BLOCKS = (128, 64, 32, 16)


def measured(name: str, params: ConvLayerParams, spikes: np.ndarray) -> dict[str, Any]:
    """The emulator's deliveries and wasted copies over the run; the conv cores' slices."""
    partition = SpikingPartition("waste", 0, (SpikingOp(name, params),), STEPS)
    backend = get_backend("spinnaker")
    with tempfile.TemporaryDirectory() as out:
        for where, device in candidate_devices("spinnaker", partition.n_neurons):
            try:
                compiled = backend.compile(partition, device, Path(out) / where.replace(" ", "_"))
                break
            except CapacityError:
                continue
        else:
            raise SystemExit(f"no SpiNNaker device holds {name}")
        with backend.load(compiled) as executor:
            if not np.array_equal(executor.run(spikes), ReferenceNetwork([params]).run(spikes)[0]):
                raise SystemExit(f"the emulator and the reference disagree on {name}")
            stats, board = executor.stats, executor.network.board
    mine = board.population == 1
    return {
        "device": where,
        "conv_cores": int(mine.sum()),
        "input_cores": int((board.population == 0).sum()),
        "deliveries": stats.deliveries,
        "wasted_deliveries": stats.no_synaptic_row,
        "wasted_share": stats.no_synaptic_row / stats.deliveries,
        "slices": list(zip(board.lo[mine].tolist(), board.hi[mine].tolist())),
        "input_width": int(board.hi[0] - board.lo[0]),
    }


def estimated_share(reach: np.ndarray, unit: int) -> float:
    """Wasted share for uniform input when each run of `unit` inputs is routed on its own:
    `reach` bool [core, input]."""
    n_in = reach.shape[1]
    routed = sum(
        int(reach[:, lo : lo + unit].any(axis=1).sum()) * min(unit, n_in - lo)
        for lo in range(0, n_in, unit)
    )
    return 1 - int(reach.sum()) / routed


def measure(name: str, rng: np.random.Generator) -> dict[str, Any]:
    shape, c_out, kernel, stride = CASES[name]
    params = conv_layer(shape, c_out, kernel, stride, rng)
    spikes = rng.random((STEPS, 1, params.n_in)) < RATE
    run = measured(name, params, spikes)
    reach = np.array([input_reach(params.synapse, lo, hi) for lo, hi in run.pop("slices")])
    width = run["input_width"]
    estimates = {
        f"estimated_share_{block}_neuron_entries": estimated_share(reach, block)
        for block in BLOCKS
        if block < width
    }
    return {
        "case": name,
        "input_shape": list(shape),
        "output_shape": list(params.synapse.output_shape),
        "steps": STEPS,
        "input_rate": RATE,
        **run,
        "estimated_share_now": estimated_share(reach, width),
        **estimates,
        "load_average_1min": os.getloadavg()[0],
    }


def main() -> None:
    rng = np.random.default_rng(2026)  # bench_conv.py's seed and order: the same layers
    results = [measure(name, rng) for name in CASES]
    main_case = next(r for r in results if r["case"] == HEADLINE_CASE)
    headline = {
        f"{HEADLINE_CASE}_wasted_share": main_case["wasted_share"],
        f"{HEADLINE_CASE}_estimated_share_16_neuron_entries": main_case[
            "estimated_share_16_neuron_entries"
        ],
    }
    print(write_bench("spinnaker_conv_waste", headline, results, ["numpy"]))
    for result in results:
        print({k: v for k, v in result.items() if "share" in k or k == "case"})


if __name__ == "__main__":
    main()
