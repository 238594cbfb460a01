"""`snapdeploy import NET.net`: a lava-dl netx network to a .snap artifact (called by the
import command when the file's content is netx, not NIR)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from snapdeploy.commands.common import console, guarded


def import_netx(source: Path, out: Path, blocks: int | None = None) -> None:
    """Read a netx network's blocks as integer layers and write them as a .snap artifact."""
    from snapdeploy.artifact.model import save_model
    from snapdeploy.interop.netx import read_netx

    def run() -> tuple[Path, object]:
        model = read_netx(source, blocks)
        info = {
            "quantization": {"method": "netx", "weight_bits": 8},
            "source": model.source,
            # the Input block's neurons spike on the host from each sample's bias
            "netx_input": None if model.input is None else dataclasses.asdict(model.input),
        }
        return save_model(out, model.graph, info), model

    path, model = guarded(run)
    layers = [
        f"{op.name} ({' + '.join(sorted(op.params.kinds))})" for op in model.graph.spiking_ops()
    ]
    console.print(
        f"imported netx network: {len(layers)} spiking layers, {', '.join(layers)}; "
        f"{model.graph.steps} steps; wrote {path}"
    )
    if model.input is not None:
        console.print(
            f"its input block's {model.input.n} CUBA neurons spike from each sample's bias: "
            f"feed their spikes (snapdeploy.interop.netx.NetxInput.spikes) as the model's input"
        )
