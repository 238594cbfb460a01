"""Benchmark the integer reference against Lava's own simulator on the same partitions.

Why: the reference is the oracle every backend is checked against, so it must be fast
enough to check big runs; Lava's simulator is the peer it replaces for that job. Each case
is one Dense + LIF layer of N neurons fed by 1000 input channels firing at 10%, T = 100,
batch 1 (and 32 up to 1000 neurons), run through both: `ReferenceNetwork` and the Lava
backend's executor (real Lava processes, `fixed_pt`). Outputs are checked equal before
anything is timed. Lava's start-up (compile + forking its processes) is timed apart from
its steps. Lava runs batch items one after another, swapping each item's state in and out
through Lava's Vars, so its batch time includes that swap; the reference runs the batch as
one array through its compiled kernel (`core.lif_native`, threads over batch items). The
numpy form of the reference (`ReferenceNetwork(native=False)`, the readable specification)
is timed too, so the gain of the compiled kernel is on record. One more case has the demo's
shape (128 -> 64, T = 4, batch 32). Times are the best of three runs (of one for Lava with
batch 32, which takes seconds per item; of twenty for the compiled reference, whose runs
take under a millisecond).

Run: `.venv/bin/python tools/bench_lava.py` -> bench/lava.json
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.progress import Progress

from snapdeploy.backends import get_backend
from snapdeploy.bench import best_time, random_lif_layer, write_bench
from snapdeploy.core.graph import SpikingOp
from snapdeploy.core.neuron import ReferenceNetwork
from snapdeploy.partition import SpikingPartition
from snapdeploy.targets import LavaDevice

INPUTS = 1000
RATE = 0.1
STEPS = 100
NEURONS = (100, 1000, 10000)
BATCH = 32
BATCHED_UP_TO = 1000  # neurons; 10000 x 32 items takes Lava minutes
HEADLINE_CASE = {"neurons": 1000, "batch": 1}
#: The reference's runs take under a millisecond, so more of them find an undisturbed one.
REPEATS = 20
DEMO_SHAPE = {"inputs": 128, "neurons": 64, "steps": 4, "batch": 32}


def measure(
    n_in: int, n_out: int, steps: int, batch: int, rng: np.random.Generator
) -> dict[str, Any]:
    """Time both on one partition; fail loudly if Lava and the reference disagree."""
    params = random_lif_layer(n_in, n_out, rng)
    spikes = rng.random((steps, batch, n_in)) < RATE
    reference = ReferenceNetwork([params])
    want = reference.run(spikes)[0]
    ours = best_time(lambda: reference.run(spikes), repeats=REPEATS)
    specification = ReferenceNetwork([params], native=False)
    if not np.array_equal(specification.run(spikes)[0], want):
        raise SystemExit(f"the compiled and numpy references disagree at {n_out} neurons")
    numpy_s = best_time(lambda: specification.run(spikes))
    with tempfile.TemporaryDirectory() as out:
        partition = SpikingPartition("bench", 0, (SpikingOp("layer0", params),), steps)
        backend = get_backend("lava")
        executor = backend.load(backend.compile(partition, LavaDevice(name="loihi"), Path(out)))
        with executor:
            executor.progress = False
            began = time.perf_counter()
            executor.network.start()
            startup = time.perf_counter() - began
            if not np.array_equal(executor.run(spikes), want):
                raise SystemExit(f"Lava and the reference disagree at {n_out} neurons")
            executor.reset()
            lava = best_time(lambda: executor.run(spikes), repeats=3 if batch == 1 else 1)
    events = int(spikes.sum()) * n_out
    total_steps = steps * batch
    return {
        "neurons": n_out,
        "inputs": n_in,
        "steps": steps,
        "batch": batch,
        "input_rate": RATE,
        "synaptic_events": events,
        "reference_s": ours,
        "reference_numpy_s": numpy_s,
        "lava_s": lava,
        "lava_startup_s": startup,
        "ratio_lava_over_reference": lava / ours,
        "reference_steps_per_s": total_steps / ours,
        "lava_steps_per_s": total_steps / lava,
        "reference_synaptic_events_per_s": events / ours,
        "lava_synaptic_events_per_s": events / lava,
        "load_average_1min": os.getloadavg()[0],  # other work on the machine skews both
    }


def main() -> None:
    rng = np.random.default_rng(2026)
    shapes = [(INPUTS, n, STEPS, 1) for n in NEURONS]
    shapes += [(INPUTS, n, STEPS, BATCH) for n in NEURONS if n <= BATCHED_UP_TO]
    shapes.append(tuple(DEMO_SHAPE.values()))
    results = []
    with Progress() as bar:
        task = bar.add_task("reference vs Lava", total=len(shapes))
        for n_in, n_out, steps, batch in shapes:
            bar.update(task, description=f"{n_out} neurons, T={steps}, batch {batch}")
            results.append(measure(n_in, n_out, steps, batch, rng))
            bar.advance(task)
    main_case = next(r for r in results if HEADLINE_CASE.items() <= r.items())
    headline = {
        "reference_vs_lava_speedup": main_case["ratio_lava_over_reference"],
        "lava_startup_s": main_case["lava_startup_s"],
        "reference_synaptic_events_per_s": main_case["reference_synaptic_events_per_s"],
    }
    path = write_bench("lava", headline, results, ["lava-nc", "rich"])
    print(f"wrote {path}: {headline}")


if __name__ == "__main__":
    main()
