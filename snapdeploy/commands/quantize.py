"""`snapdeploy quantize`: quantization-aware fine-tuning of a trained model into a .snap."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from snapdeploy.commands.common import console, guarded


def quantize(
    model: Path = typer.Argument(
        ..., help="A model file from `snapdeploy train`, or torch.save(my_hybridnet, path)."
    ),
    bits: int = typer.Option(8, help="Spiking weight bits (Lava form: 2**bits levels), 2..8."),
    dense_bits: int = typer.Option(None, help="Dense weight bits, 2..16 (default: --bits)."),
    epochs: int = typer.Option(10, min=1, help="Fine-tune epochs (in all, counting resumed ones)."),
    sparsity: float = typer.Option(1e-3, min=0.0, help="Weight of the spike rate in the loss."),
    lr: float = typer.Option(1e-3, min=0.0, help="Adam learning rate."),
    per_channel: bool = typer.Option(False, help="Per-channel weight scales in dense layers."),
    power_of_two: bool = typer.Option(False, help="Power-of-two weight scales (shifts)."),
    act_bits: int = typer.Option(
        8, help="Bits of the activation entering each spike encoder, 2..16; 0 = float."
    ),
    data: Path = typer.Option(
        None, help=".npz with x_train, y_train, x_test, y_test (default: bundled digits)."
    ),
    seed: int = typer.Option(0, help="Seed of shuffling and the data split."),
    checkpoint: Path = typer.Option(
        None, help="Checkpoint to resume and update each epoch (default: OUT.ckpt)."
    ),
    out: Path = typer.Option(
        Path("model.snap"), "--out", "-o", help="The .snap artifact to write."
    ),
) -> None:
    """Fine-tune a trained hybrid net with Brevitas QAT and export its integers to a .snap."""
    from snapdeploy.flow.qat import quantize_model
    from snapdeploy.quant.brevitas_twin import QuantSpec
    from snapdeploy.quant.finetune import FinetuneConfig
    from snapdeploy.quant.inputs import load_hybridnet, load_split

    spec = QuantSpec(
        bits, bits if dense_bits is None else dense_bits, per_channel, power_of_two, act_bits
    )
    config = FinetuneConfig(epochs=epochs, lr=lr, sparsity_weight=sparsity, seed=seed)
    ckpt = checkpoint or out.with_name(out.name + ".ckpt")

    def run():
        float_model = load_hybridnet(model)
        split = load_split(data, float_model, seed)
        return quantize_model(float_model, split, spec, config, out, console, ckpt)

    result = guarded(run)
    table = Table(title=f"{spec.bits}-bit QAT on {model.name}: held-out accuracy")
    for column in ("float", "QAT (Brevitas twin)", "integer reference", "spikes/sample"):
        table.add_column(column, justify="right")
    table.add_row(
        f"{result.float_accuracy:.2%}",
        f"{result.qat_accuracy:.2%}",
        f"{result.integer_accuracy:.2%}",
        f"{result.spikes_per_sample:.1f}",
    )
    console.print(table)
    console.print(f"wrote {result.artifact} (checkpoint {ckpt})")
