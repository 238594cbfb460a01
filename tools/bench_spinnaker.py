"""Benchmark the SpiNNaker backend: emulator speed, table sizes, placement quality, and the same
networks mapped by sPyNNaker itself.

Why: whether a network fits a board is decided by its mapping (cores, routing entries) and
how much traffic its placement causes; sPyNNaker/PACMAN is the mapper this backend stands in
for. Each case is a chain of equal populations of W neurons (the input plus layers) with
banded connectivity (each neuron receives from the +-BAND pre neurons nearest its place, as in
a 1-D convolution), N = 1e3, 1e4 and 1e5 neurons in all, on the SpiNN-5 target (48 chips).
For each: our mapping time (slice, place, route, fit tables); cores used; routing entries per
chip before and after compressing every table; the emulator run for STEPS steps at an input
rate of RATE (checked equal to the reference's spikes first), timed as packets sent per second
of the whole emulation (neuron updates, routing, synaptic input); and hops under our placement
against a seeded random placement of the same slices (the same spikes, by construction).

The peer, sPyNNaker 1!7.4.1, needs numpy 2 while snapdeploy pins numpy < 2, so it runs in its
own virtual environment (created in a temporary folder with pip, unless `--peer-python` names
one that has it) with HOME set to a temporary folder holding a `.spynnaker.cfg` that asks for
a virtual 48-chip board (version 5): sPyNNaker maps without hardware and stops before loading.
This same file, run with `--peer CASE.npz`, builds the case there as PyNN populations
(SpikeSourceArray + IF_curr_exp, 256 neurons per core) and FromListConnector projections
(excitatory and inhibitory), and reports cores used (its application machine vertices;
it also places one system core per chip), entries per chip (its uncompressed tables) and the time of its
mapping algorithms as sPyNNaker logs them (partitioner, placer, router, key allocator,
table generator, compressor when it runs).

Run: `.venv/bin/python tools/bench_spinnaker.py [--peer-python PATH]` -> bench/spinnaker.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

SPYNNAKER = "sPyNNaker==1!7.4.1"
NEURONS = (1_000, 10_000, 100_000)
WIDTHS = {1_000: 250, 10_000: 1_000, 100_000: 2_000}
BAND = 32
STEPS = 20
#: Batch items are independent boards run side by side; the headline uses the larger batch.
BATCHES = (1, 32)
RATE = 0.1
SEED = 0
#: sPyNNaker's log lines "<algorithm> took H:MM:SS.ffffff" that make up its mapping.
PEER_MAPPING_STEPS = (
    "Splitter partitioner",
    "Application Placer",
    "Application Router",
    "Zoned routing info allocator",
    "Merged routing table generator",
    "Pair compressor",
    "Ordered covering compressor",
)
PEER_CFG = "[Machine]\nvirtual_board = True\nversion = 5\n"


def banded_weights(width: int, rng: np.random.Generator) -> np.ndarray:
    """int16 [width, width], mostly excitatory, non-zero only within BAND of the diagonal."""
    offsets = np.abs(np.arange(width)[:, None] - np.arange(width)[None, :])
    weights = 2 * rng.integers(-40, 100, (width, width), dtype=np.int16)
    return np.where(offsets <= BAND, weights, 0).astype(np.int16)


def case_layers(neurons: int, rng: np.random.Generator) -> list[Any]:
    from snapdeploy.core.neuron import LifLayerParams

    width = WIDTHS[neurons]
    return [
        LifLayerParams(banded_weights(width, rng), 0, 1024, 256, 1500, np.zeros(width, np.int64), 0)
        for _ in range(neurons // width - 1)
    ]


def ours(neurons: int, device: Any, rng: np.random.Generator) -> tuple[dict[str, Any], list[Any]]:
    """Map, check and time one case with snapdeploy."""
    from snapdeploy.backends.spinnaker import map_network
    from snapdeploy.backends.spinnaker.compression import compress
    from snapdeploy.backends.spinnaker.emulator import Emulator
    from snapdeploy.backends.spinnaker.placement import random_placement
    from snapdeploy.bench import best_time
    from snapdeploy.core.neuron import ReferenceNetwork

    layers = case_layers(neurons, rng)
    names = [f"layer{i}" for i in range(len(layers))]
    began = time.perf_counter()
    mapping = map_network(names, layers, device, "bench")
    mapping_s = time.perf_counter() - began
    if neurons < max(NEURONS):
        mapping_s = min(
            mapping_s, best_time(lambda: map_network(names, layers, device, "bench"), 2)
        )
    after = [len(compress(t)) for t in mapping.tables]
    spikes = rng.random((STEPS, max(BATCHES), layers[0].n_in)) < RATE
    want = ReferenceNetwork(layers).run(spikes, record_all=True)

    def emulate(emulator: Any, batch: int = 1) -> Any:
        emulator.reset(batch)
        got = np.stack([emulator.step(s[:batch])[-1] for s in spikes])
        if not np.array_equal(got, want[-1][:, :batch]) or emulator.stats.dropped:
            raise SystemExit(f"the emulator and the reference disagree at {neurons} neurons")
        return emulator.stats

    emulator = Emulator(mapping.board(), layers)  # load time, not timed
    per_batch = {}
    for batch in BATCHES:
        packets = emulate(emulator, batch).packets_sent
        seconds = best_time(lambda batch=batch: emulate(emulator, batch))
        per_batch[batch] = {
            "emulation_s": seconds,
            "packets_sent": packets,
            "packets_routed_per_s": packets / seconds,
        }
    stats = emulate(emulator)
    scattered = map_network(
        names,
        layers,
        device,
        "bench",
        placements=random_placement(
            mapping.graph, mapping.mesh, device.cores_per_chip, "bench", SEED
        ),
    )
    random_stats = emulate(Emulator(scattered.board(), layers))
    return {
        "neurons": neurons,
        "populations": len(layers) + 1,
        "width": WIDTHS[neurons],
        "synapses": int(sum(np.count_nonzero(p.weights) for p in layers)),
        "spike_rate_per_layer": [round(float(s[:, :1].mean()), 4) for s in want],
        "cores_used": mapping.graph.n_slices,
        "mapping_s": mapping_s,
        "max_table_entries_before": max(mapping.entries_before),
        "max_table_entries_after": max(after),
        "total_table_entries_before": sum(mapping.entries_before),
        "total_table_entries_after": sum(after),
        "batch_1": {
            "router_lookups": stats.router_lookups,
            "deliveries": stats.deliveries,
            "hops": stats.hops,
        }
        | per_batch[1],
        f"batch_{max(BATCHES)}": per_batch[max(BATCHES)],
        "packets_routed_per_s": per_batch[max(BATCHES)]["packets_routed_per_s"],
        "hops_ours": stats.hops,
        "hops_random": random_stats.hops,
        # None: our placement put every slice on one chip, so no packet hops at all
        "hops_random_over_ours": random_stats.hops / stats.hops if stats.hops else None,
        "spikes_equal_reference": True,
    }, layers


def peer(case_file: Path) -> None:
    """Inside sPyNNaker's venv: map the case on a virtual SpiNN-5 board, print JSON."""
    from importlib import metadata

    import pyNN.spiNNaker as sim
    from spinn_front_end_common.data import FecDataView

    data = np.load(case_file)
    width, count = int(data["width"]), int(data["populations"])
    began = time.perf_counter()
    sim.setup(timestep=1.0)
    sim.set_number_of_neurons_per_core(sim.IF_curr_exp, 256)
    times = [[1.0 + (i % 10)] for i in range(width)]
    pops = [sim.Population(width, sim.SpikeSourceArray(spike_times=times), label="input")]
    for i in range(count - 1):
        pops.append(sim.Population(width, sim.IF_curr_exp(), label=f"layer{i}"))
        post, pre = np.nonzero(data[f"w{i}"])
        weight = data[f"w{i}"][post, pre].astype(float)
        for sign, receptor in ((1, "excitatory"), (-1, "inhibitory")):
            pick = np.sign(weight) == sign
            conns = np.stack(
                [pre[pick], post[pick], np.abs(weight[pick]) / 256, np.ones(pick.sum())], 1
            )
            sim.Projection(
                pops[i], pops[i + 1], sim.FromListConnector(conns), receptor_type=receptor
            )
    sim.run(1.0)
    total_s = time.perf_counter() - began
    tables = FecDataView.get_uncompressed().routing_tables
    entries = [t.number_of_entries for t in tables]
    print(
        json.dumps(
            {
                "version": metadata.version("sPyNNaker"),
                "cores_used": sum(
                    1 for v in FecDataView.iterate_vertices() for _ in v.machine_vertices
                ),
                "placements_with_system_cores": FecDataView.get_n_placements(),
                "max_table_entries": max(entries),
                "total_table_entries": sum(entries),
                "chips_with_tables": len(entries),
                "setup_to_end_of_run_s": total_s,
            }
        )
    )
    sim.end()


def peer_python(given: str | None, scratch: Path) -> Path:
    """A Python with sPyNNaker: the one given, or a fresh venv under `scratch`."""
    if given:
        return Path(given)
    venv = scratch / "spynnaker-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", SPYNNAKER], check=True)
    return python


def run_peer(python: Path, layers: list[Any], scratch: Path, neurons: int) -> dict[str, Any]:
    home = scratch / f"home-{neurons}"
    home.mkdir()
    (home / ".spynnaker.cfg").write_text(PEER_CFG)
    case = scratch / f"case-{neurons}.npz"
    np.savez(
        case,
        width=WIDTHS[neurons],
        populations=len(layers) + 1,
        **{f"w{i}": p.weights for i, p in enumerate(layers)},
    )
    done = subprocess.run(
        [str(python), __file__, "--peer", str(case)],
        cwd=home,
        env={"HOME": str(home), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise SystemExit(f"sPyNNaker failed on {neurons} neurons:\n{done.stderr[-3000:]}")
    took = {
        name.strip(): int(h) * 3600 + int(m) * 60 + float(s)
        for name, h, m, s in re.findall(
            r"INFO: (.+?) took (\d+):(\d+):([\d.]+)", done.stderr + done.stdout
        )
    }
    steps = {step: took[step] for step in PEER_MAPPING_STEPS if step in took}
    if not steps:
        raise SystemExit(f"no mapping timings in sPyNNaker's log:\n{done.stderr[-3000:]}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return report | {"mapping_s": sum(steps.values()), "mapping_steps_s": steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--peer-python", help="a Python that has sPyNNaker installed")
    args = parser.parse_args()
    if args.peer:
        peer(args.peer)
        return
    from rich.progress import Progress

    from snapdeploy.bench import write_bench
    from snapdeploy.targets import load_target

    device = load_target("spinn-5").device("board")
    results = []
    with tempfile.TemporaryDirectory() as tmp, Progress() as bar:
        scratch = Path(tmp)
        task = bar.add_task("sPyNNaker venv", total=None)
        python = peer_python(args.peer_python, scratch)
        bar.update(task, description="cases", total=len(NEURONS), completed=0)
        for neurons in NEURONS:
            mine, layers = ours(neurons, device, np.random.default_rng(SEED + neurons))
            theirs = run_peer(python, layers, scratch, neurons)
            results.append(
                mine
                | {
                    "load_average_1m": os.getloadavg()[0],  # other work sharing these cores
                    "spynnaker": theirs,
                    "entries_spynnaker_over_ours": theirs["max_table_entries"]
                    / mine["max_table_entries_before"],
                    "mapping_time_spynnaker_over_ours": theirs["mapping_s"] / mine["mapping_s"],
                }
            )
            bar.advance(task)
    largest = results[-1]
    headline = {
        "packets_routed_per_s": largest["packets_routed_per_s"],
        "hops_random_over_ours": largest["hops_random_over_ours"],
        "max_table_entries_before": largest["max_table_entries_before"],
        "max_table_entries_after": largest["max_table_entries_after"],
        "entries_spynnaker_over_ours": largest["entries_spynnaker_over_ours"],
        "mapping_time_spynnaker_over_ours": largest["mapping_time_spynnaker_over_ours"],
    }
    path = write_bench("spinnaker", headline, results, [])
    print(json.dumps(headline, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
