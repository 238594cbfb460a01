"""`snapdeploy import`: a NIR graph (snnTorch, Norse, ...) or a lava-dl netx network (told
apart by content: `import_netx`) to a .snap artifact."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from snapdeploy.commands.common import console, guarded


class Reset(str, Enum):
    ZERO = "zero"
    SUBTRACT = "subtract"


def import_nir(
    source: Path = typer.Argument(
        ...,
        help="A NIR file (.nir) or a lava-dl netx network (.net); both HDF5, told apart by content.",
    ),
    out: Path = typer.Option(..., "-o", "--out", help="The .snap artifact to write."),
    steps: int = typer.Option(
        25, min=1, help="Time steps the source model runs (NIR does not record it)."
    ),
    dt: float = typer.Option(
        1e-4, min=0.0, help="The time step the exporter assumed (snnTorch: 1e-4)."
    ),
    weight_bits: int = typer.Option(8, min=2, max=8, help="Spiking weight bits."),
    spike_input: bool = typer.Option(
        False,
        "--spike-input",
        help="The graph's input is spikes each step (event data), not data held for all steps.",
    ),
    reset: Reset = typer.Option(
        Reset.ZERO,
        "--reset",
        help="How the graph's neurons reset after a spike: zero (Lava's LIF; snnTorch "
        "reset_mechanism='zero'), or subtract (v -= threshold: snnTorch's default Leaky). NIR "
        "does not record which reset a graph's neurons use (snnTorch writes v_reset = 0 for "
        "both), so say it here. NIR only.",
    ),
    blocks: int | None = typer.Option(
        None,
        "--blocks",
        min=1,
        help="netx only: read the first N blocks, as netx's num_layers does (e.g. to leave "
        "out a trailing 'average' readout and end in spikes).",
    ),
) -> None:
    """Read a NIR graph into a hybrid net and export it to integers as a .snap artifact, or a
    netx network's blocks as integer layers (its own steps and weights; the NIR options do
    not apply)."""
    from snapdeploy.interop.netx import is_netx

    if source.is_file() and is_netx(source):
        from snapdeploy.commands.import_netx import import_netx
        from snapdeploy.interop.netx import NetxFormatError

        if reset is not Reset.ZERO:
            raise NetxFormatError(
                f"{source}: a netx network's CUBA neurons reset to zero, and --reset is for NIR "
                f"graphs (which do not say their reset); fix: drop --reset"
            )

        import_netx(source, out, blocks)
        return
    from snapdeploy.artifact.model import save_model
    from snapdeploy.interop import read_nir
    from snapdeploy.nn.image_encoder import ImageSpikeEncoder
    from snapdeploy.nn.image_source import ImageSpikeSource
    from snapdeploy.quant.export import export_model

    def run() -> tuple[Path, object]:
        imported = read_nir(source, steps=steps, dt=dt, spike_input=spike_input, reset=reset.value)
        graph = export_model(imported.net, weight_bits=weight_bits)
        info = {
            "quantization": {
                "method": "post-training",
                "weight_bits": weight_bits,
                "dense_bits": 8,
            },
            "source": {
                "format": "nir",
                "file": source.name,
                "dt": dt,
                "steps": steps,
                "spike_input": spike_input,
                "delayed_layers": imported.delayed_layers,
                "reset": imported.reset,
                "notes": imported.notes,
            },
        }
        return save_model(out, graph, info), imported

    path, imported = guarded(run)
    net = imported.net
    console.print(f"imported {len(net.stages())} stages, {net.steps} steps; wrote {path}")
    if imported.delayed_layers:
        console.print(
            f"{len(imported.delayed_layers)} spiking layer(s) gained our one-step synapse "
            f"delay ({', '.join(imported.delayed_layers)}): the model runs {steps} + "
            f"{len(imported.delayed_layers)} steps so its spike counts cover the source's"
        )
    if spike_input:
        console.print(
            f"its input is spikes [N, {net.steps}, {net.input_shape[1]}]: the source's {steps} "
            f"steps, then zeros for the rest"
        )
    first = net.stages()[0]
    if isinstance(first, ImageSpikeSource):
        console.print(
            f"its input images are NIR's (C, H, W) = {first.channels_first} flattened, as the "
            f"source's; the spike source reorders them channels-last for the conv layers"
        )
    encoders = [s for s in net.stages() if isinstance(s, ImageSpikeEncoder)]
    if encoders:
        console.print(
            f"its encoder takes the dense side's {encoders[0].channels_first} image in NIR's "
            f"(C, H, W) order and hands its spikes on channels-last, so the conv after it stays "
            f"a conv"
        )
    if imported.output_order is not None:
        console.print("its output images are channels-last: (H, W, C) flattened")
    for note in imported.notes:
        console.print(f"note: {note}")
