"""Benchmark QAT against post-training rounding on the demo task; writes bench/qat.json.

One float demo network (DemoConfig defaults) is trained once; then, at each weight width, it is
exported by post-training rounding (`quant.export`, the peer) and by QAT (Brevitas twin,
fine-tuned, `quant.qat_export`). Every accuracy is the exported artifact's on the integer
reference over the held-out digits (what a deployment computes), and spikes per sample are those
crossing the spike boundaries there. Spiking and dense weights get the same width. Headline
gaps are float accuracy minus that accuracy, in percentage points; 3 and 2 bits are measured
too, beyond the headline, to show where rounding alone breaks.

    .venv/bin/python tools/bench_qat.py [--epochs 10]
"""

from __future__ import annotations

import argparse
import time

import torch
from rich.console import Console

from snapdeploy.bench import write_bench
from snapdeploy.data import digits
from snapdeploy.flow import DemoConfig, reference_score, train_demo
from snapdeploy.nn.train import accuracy, predict
from snapdeploy.quant.brevitas_twin import QuantSpec, make_twin
from snapdeploy.quant.export import export_model
from snapdeploy.quant.finetune import FinetuneConfig, finetune
from snapdeploy.quant.qat_export import export_twin

BITS = (8, 6, 4, 3, 2)


def points(fraction: float) -> float:
    return round(100.0 * fraction, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10, help="QAT fine-tune epochs per width")
    args = parser.parse_args()
    console = Console()
    config = DemoConfig()
    data = digits(seed=config.seed)
    began = time.perf_counter()
    model, float_acc = train_demo(config, data)
    float_seconds = time.perf_counter() - began
    console.print(f"float {float_acc:.2%} ({float_seconds:.1f} s)")
    tuning = FinetuneConfig(epochs=args.epochs)
    results = [
        {
            "method": "float",
            "bits": None,
            "accuracy": points(float_acc),
            "gap_points": 0.0,
            "seconds": round(float_seconds, 2),
            "epochs": config.epochs,
        }
    ]
    for bits in BITS:
        rounded = export_model(model, weight_bits=bits, dense_bits=bits)
        ptq = reference_score(rounded, data.x_test, data.y_test)
        spec = QuantSpec(bits=bits, dense_bits=bits)
        twin = make_twin(model, spec)
        began = time.perf_counter()
        finetune(twin, data.x_train, data.y_train, tuning)
        qat_seconds = time.perf_counter() - began
        qat = reference_score(export_twin(twin, spec), data.x_test, data.y_test)
        twin_acc = accuracy(predict(twin, data.x_test), data.y_test)
        for method, score, extra in (
            ("post-training rounding", ptq, {}),
            (
                "QAT (Brevitas twin)",
                qat,
                {
                    "twin_accuracy": points(twin_acc),
                    "seconds": round(qat_seconds, 2),
                    "epochs": args.epochs,
                },
            ),
        ):
            results.append(
                {
                    "method": method,
                    "bits": bits,
                    "accuracy": points(score.accuracy),
                    "gap_points": points(float_acc - score.accuracy),
                    "spikes_per_sample": round(score.spikes_per_sample, 1),
                    **extra,
                }
            )
            console.print(results[-1])
    gap = {(r["method"], r["bits"]): r["gap_points"] for r in results}
    headline = {
        "float_acc": points(float_acc),
        "qat8_gap_points": gap["QAT (Brevitas twin)", 8],
        "qat6_gap_points": gap["QAT (Brevitas twin)", 6],
        "qat4_gap_points": gap["QAT (Brevitas twin)", 4],
        "ptq4_gap_points": gap["post-training rounding", 4],
    }
    path = write_bench("qat", headline, results, ["brevitas", "scikit-learn"])
    console.print(headline)
    console.print(f"wrote {path} (torch threads: {torch.get_num_threads()})")


if __name__ == "__main__":
    main()
