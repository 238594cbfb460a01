"""The quantization-aware flow behind `snapdeploy quantize` and `tools/qat_finetune.py`.

Float model -> Brevitas twin -> fine-tune (checkpointed) -> integer graph -> integer reference
run on the held-out data -> `.snap` artifact whose manifest records the float, QAT-twin and
integer accuracies side by side, so a user sees what quantization cost before deploying.
It needs the `qat` extra (Brevitas), so `snapdeploy.flow` itself does not import it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

from rich.console import Console

from snapdeploy.artifact.model import save_model
from snapdeploy.data import Split
from snapdeploy.flow.deploy import reference_score
from snapdeploy.nn.hybrid import HybridNet
from snapdeploy.nn.train import accuracy, predict
from snapdeploy.quant.brevitas_twin import QuantSpec, make_twin
from snapdeploy.quant.finetune import FinetuneConfig, finetune
from snapdeploy.quant.qat_export import export_twin


@dataclass(frozen=True)
class QatResult:
    artifact: Path
    float_accuracy: float
    qat_accuracy: float  # the twin's own forward
    integer_accuracy: float  # the exported artifact on the integer reference
    spikes_per_sample: float
    history: list[float]


def quantize_model(
    model: HybridNet,
    data: Split,
    spec: QuantSpec,
    config: FinetuneConfig,
    out: Path,
    console: Console,
    checkpoint: Path | None = None,
    progress: bool = True,
) -> QatResult:
    """Fine-tune `model`'s twin on `data`, export it to `out`, and score every stage."""
    float_acc = accuracy(predict(model, data.x_test), data.y_test)
    twin = make_twin(model, spec)
    acts = f"{spec.act_bits}-bit" if spec.act_bits else "float"
    console.print(
        f"[bold]1/3[/] fine-tuning at {spec.bits}-bit spiking / {spec.dense_bits}-bit "
        f"dense weights, {acts} encoder inputs, for {config.epochs} epochs"
    )
    history = finetune(twin, data.x_train, data.y_train, config, checkpoint, progress)
    qat_acc = accuracy(predict(twin, data.x_test), data.y_test)
    console.print(
        f"[bold]2/3[/] exporting integers; running the integer reference on "
        f"{len(data.y_test)} held-out samples"
    )
    graph = export_twin(twin, spec)
    score = reference_score(graph, data.x_test, data.y_test)
    console.print(f"[bold]3/3[/] writing {out}")
    path = save_model(
        out,
        graph,
        {
            "quantization": {
                "method": "quantization-aware (Brevitas)",
                "brevitas": metadata.version("brevitas"),
                "weight_bits": spec.bits,
                "dense_bits": spec.dense_bits,
                "per_channel": spec.per_channel,
                "power_of_two": spec.power_of_two,
                "act_bits": spec.act_bits,
                "finetune": asdict(config),
            },
            "float_accuracy": float_acc,
            "qat_accuracy": qat_acc,
            "integer_accuracy": score.accuracy,
            "held_out_samples": len(data.y_test),
            "spikes_per_sample": score.spikes_per_sample,
        },
    )
    return QatResult(path, float_acc, qat_acc, score.accuracy, score.spikes_per_sample, history)
