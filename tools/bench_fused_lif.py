"""Time the fused multi-step LIF against our step loop, snnTorch and SpikingJelly; write
bench/fused_lif.json.

Every implementation runs in this one process on the same input current [T, batch, n]:
forward alone (inference, no graph) and forward + backward of spikes.sum(), and at the
headline size also of (spikes * weight).sum() with one dense random weight. After a warm-up
call each, the implementations take turns, best of 3-5 kept. Ours runs the
two-state neuron with a learnable per-neuron bias and threshold; snnTorch's `Leaky` (reset to
zero, fast-sigmoid surrogate, stepped in a Python loop as its docs do) and SpikingJelly's
multi-step `LIFNode` (hard reset to 0, no input decay, detached reset) run their one-state
LIF with the same decay, which gives the same spikes (tests/nn/test_fused_lif.py).
Peak memory of forward + backward is measured in a fresh subprocess per implementation
(the rise of the peak resident set over the inputs), or by torch.cuda's peak counter on a GPU.

    .venv/bin/python tools/bench_fused_lif.py [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import torch
from rich.progress import Progress

from snapdeploy.bench import best_time, write_bench
from snapdeploy.nn.lif import lif_sequence

DV = 0.5  # SpikingJelly's tau = 1 / DV = 2
VTH = 1.0
# (batch, neurons, steps). The issue asks for T in {8, 32, 128} at 32x4096 and 128x16384; at
# 128x16384, T=128 (1 GiB per [T, batch, n] tensor) was killed for memory on this shared
# 23 GiB machine, so T=128 runs at 32x16384 there.
CASES = (
    (32, 4096, 8), (32, 4096, 32), (32, 4096, 128),
    (128, 16384, 8), (128, 16384, 32), (32, 16384, 128),
)  # fmt: skip
MEMORY_STEPS = 128
IMPLS = ("fused", "step_loop", "snntorch", "spikingjelly")
PEERS = ["snntorch", "spikingjelly"]
HEADLINE_T32 = (128, 16384, 32)
HEADLINE_T128 = (32, 16384, 128)

Run = Callable[[torch.Tensor], torch.Tensor]


def ours(fused: bool, n: int, device: str) -> Run:
    vth = torch.tensor(VTH, device=device, requires_grad=True)
    bias = torch.zeros(n, device=device, requires_grad=True)
    return lambda current: lif_sequence(current, 1.0, DV, vth, bias, fused=fused)


def snntorch_leaky(device: str) -> Run:
    import snntorch
    from snntorch import surrogate

    leaky = snntorch.Leaky(
        beta=1.0 - DV, threshold=VTH, reset_mechanism="zero",
        spike_grad=surrogate.fast_sigmoid(slope=5),
    ).to(device)  # fmt: skip

    def run(current: torch.Tensor) -> torch.Tensor:
        mem = leaky.reset_mem()
        spikes = []
        for a in current:
            spk, mem = leaky(a, mem)
            spikes.append(spk)
        return torch.stack(spikes)

    return run


def spikingjelly_lif(device: str) -> Run:
    from spikingjelly.activation_based import functional, neuron

    node = neuron.LIFNode(
        tau=1.0 / DV, decay_input=False, v_threshold=VTH, v_reset=0.0, detach_reset=True,
        step_mode="m",
    ).to(device)  # fmt: skip

    def run(current: torch.Tensor) -> torch.Tensor:
        functional.reset_net(node)
        return node(current)

    return run


def make(impl: str, n: int, device: str) -> Run | None:
    """The implementation as a function of the current; None when its package is absent."""
    try:
        if impl == "snntorch":
            return snntorch_leaky(device)
        if impl == "spikingjelly":
            return spikingjelly_lif(device)
    except ImportError:
        return None
    return ours(impl == "fused", n, device)


def current_for(steps: int, batch: int, n: int, device: str) -> torch.Tensor:
    gen = torch.Generator(device=device).manual_seed(0)
    return torch.rand(steps, batch, n, generator=gen, device=device) * 1.2


def synced(fn: Callable[[], object], device: str) -> Callable[[], None]:
    def call() -> None:
        fn()
        if device == "cuda":
            torch.cuda.synchronize()

    return call


def forward_only(run: Run, current: torch.Tensor) -> Callable[[], object]:
    def call() -> object:
        with torch.no_grad():
            return run(current)

    return call


def forward_backward(run: Run, current: torch.Tensor) -> Callable[[], None]:
    leaf = current.detach().requires_grad_()

    def call() -> None:
        run(leaf).sum().backward()
        leaf.grad = None

    return call


def dense_weight(current: torch.Tensor) -> torch.Tensor:
    gen = torch.Generator(device=current.device).manual_seed(1)
    return torch.rand(current.shape, generator=gen, device=current.device)


def forward_backward_dense(
    run: Run, current: torch.Tensor, weight: torch.Tensor
) -> Callable[[], None]:
    """Forward + backward of (spikes * weight).sum(): a dense upstream gradient, as a layer
    after the neurons gives, where spikes.sum() gives one value expanded (which the fused
    kernel takes as a scalar instead of reading a [T, batch, n] tensor of ones)."""
    leaf = current.detach().requires_grad_()

    def call() -> None:
        (run(leaf) * weight).sum().backward()
        leaf.grad = None

    return call


def resident(field: str) -> int:
    """VmRSS or VmHWM (peak) of this process, in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def peak_memory_here(impl: str, steps: int, batch: int, n: int, device: str) -> int:
    """Bytes by which one forward + backward raises the peak over the inputs held."""
    run = make(impl, n, device)
    assert run is not None
    forward_backward(run, current_for(1, batch, n, device))()  # load kernels, warm caches
    current = current_for(steps, batch, n, device)
    call = forward_backward(run, current)
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        synced(call, device)()
        return torch.cuda.max_memory_allocated() - base
    base = resident("VmRSS")
    call()
    return resident("VmHWM") - base


def peak_memory(impl: str, steps: int, batch: int, n: int, device: str) -> int:
    """`peak_memory_here` in a fresh interpreter, so earlier cases leave no high-water mark."""
    args = [sys.executable, __file__, "--peak-of", f"{impl},{steps},{batch},{n},{device}"]
    done = subprocess.run(args, capture_output=True, text=True, check=True)
    return int(done.stdout.split()[-1])


def ratio(theirs: float | None, mine: float | None) -> float | None:
    return None if theirs is None or not mine else round(theirs / mine, 2)


def timed(calls: dict[str, Callable[[], None]], repeats: int) -> dict[str, float]:
    """Best wall-clock time of each call. One untimed warm-up call each, then the calls take
    turns (round robin) `repeats` times, so a burst of load from the machine's other jobs
    falls on every implementation alike rather than on whichever ran during it."""
    for call in calls.values():
        call()
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            times[name].append(best_time(call, 1))
    return {name: min(found) for name, found in times.items()}


def measure(steps: int, batch: int, n: int, device: str, memory: bool) -> list[dict]:
    current = current_for(steps, batch, n, device)
    repeats = 3 if steps * batch * n > 2**24 else 5
    passes: list[tuple[str, Callable[[Run, torch.Tensor], Callable[[], object]]]] = [
        ("fwd", forward_only), ("fwd_bwd", forward_backward),
    ]  # fmt: skip
    if (batch, n, steps) == HEADLINE_T32:
        weight = dense_weight(current)  # one, shared by every implementation
        passes.append(("fwd_bwd_dense_grad", lambda run, x: forward_backward_dense(run, x, weight)))
    rows = []
    for name, wrap in passes:
        runs = {impl: make(impl, n, device) for impl in IMPLS}
        calls = {
            impl: synced(wrap(run, current), device)
            for impl, run in runs.items()
            if run is not None
        }
        found = timed(calls, repeats)
        times: dict[str, float | None] = {impl: found.get(impl) for impl in IMPLS}
        row = {"device": device, "batch": batch, "neurons": n, "steps": steps, "pass": name}
        row.update({f"{impl}_s": None if t is None else round(t, 5) for impl, t in times.items()})
        row.update({f"{impl}_over_fused": ratio(times[impl], times["fused"]) for impl in IMPLS[1:]})
        # bytes the fused kernels move: forward reads the current and writes the spikes;
        # backward reads the current again (it replays the steps rather than storing them)
        # and writes the current's gradient, and with a dense upstream gradient reads it
        per_element = {"fwd": 2, "fwd_bwd": 4, "fwd_bwd_dense_grad": 5}[name]
        fused_bytes = steps * batch * n * current.element_size() * per_element
        row["fused_traffic_gb_per_s"] = round(fused_bytes / times["fused"] / 1e9, 2)
        if memory and name == "fwd_bwd":
            peaks = {
                impl: peak_memory(impl, steps, batch, n, device)
                for impl in IMPLS
                if times[impl] is not None
            }
            row["peak_mem_bytes"] = peaks
            row["peak_mem_fused_over_step_loop"] = round(peaks["fused"] / peaks["step_loop"], 3)
        rows.append(row)
    return rows


def headline(results: list[dict]) -> dict[str, float | None]:
    """The issue's four figures, from the cases measured so far (None until measured)."""
    found = {(r["batch"], r["neurons"], r["steps"]): r for r in results if r["pass"] == "fwd_bwd"}
    t32, t128 = found.get(HEADLINE_T32, {}), found.get(HEADLINE_T128, {})
    dense = next(
        (r for r in results if r["pass"] == "fwd_bwd_dense_grad"
         and (r["batch"], r["neurons"], r["steps"]) == HEADLINE_T32),
        {},
    )  # fmt: skip
    return {
        "fwd_bwd_vs_snntorch_T32": t32.get("snntorch_over_fused"),
        "fwd_bwd_vs_spikingjelly_T32": t32.get("spikingjelly_over_fused"),
        "fwd_bwd_vs_step_loop_T32": t32.get("step_loop_over_fused"),
        "peak_mem_fused_over_loop_T128": t128.get("peak_mem_fused_over_step_loop"),
        "fwd_bwd_dense_grad_vs_snntorch_T32": dense.get("snntorch_over_fused"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--out", default="fused_lif", help="bench/<out>.json")
    parser.add_argument("--peak-of", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peak_of:
        impl, steps, batch, n, device = args.peak_of.split(",")
        print(peak_memory_here(impl, int(steps), int(batch), int(n), device))
        return
    note = (
        f"{torch.get_num_threads()} torch threads; the machine's cores were shared with other "
        f"jobs during the run, so absolute times are noisy (best of 3-5 after a warm-up, "
        f"the implementations taking turns); ratios come from the same run. fwd_bwd is the "
        f"backward of spikes.sum() (an expanded scalar gradient, which the fused kernel "
        f"takes as one value); fwd_bwd_dense_grad that of (spikes * weight).sum() with a "
        f"dense random weight, as a following layer gives. snntorch: Leaky stepped in a Python loop; spikingjelly: multi-step "
        f"LIFNode, whose CPU path is its torch autograd reference. T=128 runs at 32x16384 "
        f"(128x16384 needs over 1 GiB per tensor and was killed for memory here)."
    )
    results: list[dict] = []
    with Progress() as bar:
        task = bar.add_task("fused LIF bench", total=len(CASES))
        for batch, n, steps in CASES:
            bar.update(task, description=f"T={steps} {batch}x{n}")
            results.extend(measure(steps, batch, n, args.device, steps == MEMORY_STEPS))
            path = write_bench(args.out, headline(results), [*results, {"note": note}], PEERS)
            bar.advance(task)
    print(json.dumps(headline(results), indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
