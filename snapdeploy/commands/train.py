"""`snapdeploy train`: train the demo's hybrid net in float and save it for `quantize`."""

from __future__ import annotations

from pathlib import Path

import typer

from snapdeploy.commands.common import console, guarded


def train(
    out: Path = typer.Option(Path("model.pt"), "--out", "-o", help="The model file to write."),
    epochs: int = typer.Option(30, min=1, help="Float training epochs."),
    steps: int = typer.Option(4, min=2, help="Time steps per sample."),
    sparsity: float = typer.Option(5e-2, min=0.0, help="Weight of the spike rate in the loss."),
    seed: int = typer.Option(0, help="Seed of initialisation, shuffling and the data split."),
) -> None:
    """Train the demo's hybrid net on the bundled digits (float) and save it as a model file."""
    from snapdeploy.data import digits
    from snapdeploy.flow import DemoConfig, train_demo
    from snapdeploy.quant.inputs import save_trained

    def run() -> float:
        config = DemoConfig(epochs=epochs, steps=steps, sparsity_weight=sparsity, seed=seed)
        model, acc = train_demo(config, digits(seed=seed))
        save_trained(out, model, config, {"float_accuracy": acc, "dataset": "sklearn digits 8x8"})
        return acc

    acc = guarded(run)
    console.print(f"float accuracy {acc:.2%}; wrote {out}")
