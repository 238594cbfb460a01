"""How many of a conv layer's packet deliveries on the SpiNNaker emulator are wasted, routed per
source slice (before) and in the routing units compile now chooses (after), both measured.

Why: a conv core runs a contiguous range of output neurons (a band of one output row when a
row does not fit a core); routed per source slice (one key and mask for all its neurons), each
core receives every packet of every input slice that has some neuron reaching its band, and
most of those neurons reach other bands. The emulator counts such copies as `no_synaptic_row`.
Compile now routes a conv's input in blocks of a slice's neurons with their own key/mask
entries, the finest whose tables fit every router (`route_units`). Here, on bench_conv.py's
layers (the same seeds, inputs at RATE for STEPS steps), each routing is mapped on the first
device that holds the layer, run in the emulator (output checked equal to the reference) and
its deliveries, wasted copies, routing entries per chip (before and after compression) and
run time (best of REPEATS, in the same run for all) recorded; also at `EXTRA_BLOCKS` neurons per
entry, finer than compile's choice, to show what those would cost in entries. The run time
depends little on the routing (the fast path sums a conv layer whole, whatever its packets'
copies; more units cost a little per step) and runs take milliseconds, so its ratio is kept
out of the headline: others' load has moved it between 0.4 and 2.3 here. Dense layers are
routed in blocks too where some block reaches fewer cores than its slice: `dense_cases`
measures a fully connected and two banded 4000 -> 4000 layers on spinn-5 the same way. The uniform-input
estimate of the old version of this tool (`estimated_share`) is kept beside each measurement.

Run: `.venv/bin/python tools/spinnaker_conv_waste.py` -> bench/spinnaker_conv_waste.json
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_conv import CASES, HEADLINE_CASE, RATE, STEPS, candidate_devices, conv_layer

from snapdeploy.backends.spinnaker import map_network
from snapdeploy.backends.spinnaker.emulator import Emulator
from snapdeploy.backends.spinnaker.keys import KeyLayout
from snapdeploy.backends.spinnaker.mapping import Mapping
from snapdeploy.bench import best_time, write_bench
from snapdeploy.core.conv import ConvLayerParams
from snapdeploy.core.errors import CapacityError
from snapdeploy.core.neuron import LifLayerParams, ReferenceNetwork
from snapdeploy.targets import load_target
from snapdeploy.targets.spec import SpiNNakerDevice

#: Blocks finer than compile's choice, measured for their entries and waste alone.
EXTRA_BLOCKS = (8,)
#: Runs timed per routing (the best kept): a run takes milliseconds, so others' work skews it.
REPEATS = 7


def first_device(name: str, params: ConvLayerParams) -> tuple[str, SpiNNakerDevice]:
    """The first of bench_conv.py's SpiNNaker candidates that holds the layer."""
    for where, device in candidate_devices("spinnaker", params.n_out):  # as bench_conv.py
        try:
            map_network([name], [params], device, where)
        except CapacityError:
            continue
        return where, device
    raise SystemExit(f"no SpiNNaker device holds {name}")


def emulated(
    mapping: Mapping, params: ConvLayerParams | LifLayerParams, spikes: np.ndarray
) -> dict[str, Any]:
    """The routing's deliveries, wasted copies, table sizes and run time, output checked."""
    emulator = Emulator(mapping.board(), [params])
    want = ReferenceNetwork([params]).run(spikes)[0]

    def run() -> np.ndarray:
        emulator.reset(spikes.shape[1])
        return emulator.advance(spikes)[0]

    if not np.array_equal(run(), want):
        raise SystemExit("the emulator and the reference disagree")
    stats = emulator.stats
    counts = {
        "deliveries": stats.deliveries,
        "wasted_deliveries": stats.no_synaptic_row,
        "wasted_share": stats.no_synaptic_row / stats.deliveries,
        "useful_deliveries": stats.deliveries - stats.no_synaptic_row,
        "router_lookups": stats.router_lookups,
        "hops": stats.hops,
    }
    if emulator.fast_path is None:
        raise SystemExit("the emulator did not build its fast path")
    after = [len(t) for t in mapping.tables]
    bits = mapping.route_bits[mapping.graph.population == 0]
    return counts | {
        # input slices whose every block reaches all of the slice's cores stay whole
        "neurons_per_entry": 1 << int(bits.min()),
        "input_slices_in_blocks": int(np.count_nonzero(bits < mapping.layout.neuron_bits)),
        "max_entries_per_chip_before_compression": max(mapping.entries_before),
        "max_entries_per_chip": max(after),
        "mean_entries_per_chip": float(np.mean(after)),
        "router_entries": mapping.device.router_entries,
        "emulator_s": best_time(run, repeats=REPEATS),
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
    where, device = first_device(name, params)
    whole = 1 << KeyLayout.of(device).neuron_bits
    after = map_network([name], [params], device, where)
    mappings = {"before": map_network([name], [params], device, where, route_block=whole)}
    mappings["after"] = after
    for block in EXTRA_BLOCKS:
        try:
            mappings[f"at_{block}"] = map_network(
                [name], [params], device, where, route_block=block
            )
        except CapacityError as error:
            mappings[f"at_{block}"] = str(error)
    runs = {
        k: m if isinstance(m, str) else emulated(m, params, spikes) for k, m in mappings.items()
    }
    board = after.board()
    conv = board.population == 1
    reach = after.graph.reach[0]  # bool [conv core, input]: slicing's input_reach per core
    for run in runs.values():
        if not isinstance(run, str):
            run["estimated_share"] = estimated_share(reach, run["neurons_per_entry"])
    before, now = runs["before"], runs["after"]
    return {
        "case": name,
        "input_shape": list(shape),
        "output_shape": list(params.synapse.output_shape),
        "steps": STEPS,
        "input_rate": RATE,
        "device": where,
        "conv_cores": int(conv.sum()),
        "input_cores": int((board.population == 0).sum()),
        "input_slice_neurons": int(board.hi[0] - board.lo[0]),
        **runs,
        "wasted_share_before": before["wasted_share"],
        "wasted_share_after": now["wasted_share"],
        "deliveries_after_over_before": now["deliveries"] / before["deliveries"],
        "emulator_speedup_after_over_before": before["emulator_s"] / now["emulator_s"],
        "load_average_1min": os.getloadavg()[0],
    }


#: Dense cases: inputs each neuron reads on either side of its place (None: all of them).
DENSE_BANDS = (None, 300, 40)
DENSE_SIZE = 4000


def banded_layer(band: int | None, rng: np.random.Generator) -> LifLayerParams:
    """DENSE_SIZE -> DENSE_SIZE random non-zero weights, only within `band` of the neuron."""
    weights = 2 * rng.integers(1, 128, (DENSE_SIZE, DENSE_SIZE))
    if band is not None:
        place = np.arange(DENSE_SIZE)
        weights *= np.abs(place[None, :] - place[:, None]) <= band
    return LifLayerParams(weights, 0, 400, 200, 300, rng.integers(0, 64, DENSE_SIZE), 2)


def dense_cases(rng: np.random.Generator) -> list[dict[str, Any]]:
    """Per-slice routing against compile's choice on Dense layers, on spinn-5."""
    device = load_target("spinn-5").device("board")
    whole = 1 << KeyLayout.of(device).neuron_bits
    results = []
    for band in DENSE_BANDS:
        params = banded_layer(band, rng)
        spikes = rng.random((STEPS, 1, DENSE_SIZE)) < RATE
        runs = {}
        for key, block in (("before", whole), ("after", None)):
            mapping = map_network(["dense"], [params], device, "spinn-5", route_block=block)
            runs[key] = emulated(mapping, params, spikes)
        results.append(
            {"case": f"dense_{DENSE_SIZE}_band_{band}", "steps": STEPS, "input_rate": RATE, **runs}
            | {"load_average_1min": os.getloadavg()[0]}
        )
    return results


def main() -> None:
    rng = np.random.default_rng(2026)  # bench_conv.py's seed and order: the same layers
    results = [measure(name, rng) for name in CASES]
    dense = dense_cases(np.random.default_rng(1))
    main_case = next(r for r in results if r["case"] == HEADLINE_CASE)
    headline = {
        f"{HEADLINE_CASE}_{key}": main_case[key]
        for key in (
            "wasted_share_before",
            "wasted_share_after",
            "deliveries_after_over_before",
        )
    } | {
        f"{HEADLINE_CASE}_neurons_per_entry": main_case["after"]["neurons_per_entry"],
        f"{HEADLINE_CASE}_max_entries_per_chip": main_case["after"]["max_entries_per_chip"],
    }
    headline |= {
        f"{r['case']}_wasted_share_{key}": r[key]["wasted_share"]
        for r in dense
        for key in ("before", "after")
    }
    print(write_bench("spinnaker_conv_waste", headline, results + dense, ["numpy"]))
    for result in results + dense:
        print(result["case"], {k: v for k, v in result.items() if not isinstance(v, dict | list)})
        for key in ("before", "after", *(f"at_{b}" for b in EXTRA_BLOCKS)):
            if key in result:
                print(" ", key, result[key])


if __name__ == "__main__":
    main()
