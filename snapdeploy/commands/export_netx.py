"""`snapdeploy export --format netx`: a spike-input .snap model's spiking layers as a lava-dl
netx network (the Input block's neurons from the manifest where `snapdeploy import` put them)."""

from __future__ import annotations

from pathlib import Path

from snapdeploy.commands.common import console, guarded


def export_netx(source: Path, out: Path) -> None:
    from snapdeploy.artifact.model import load_model
    from snapdeploy.core.graph import Op, SpikeSourceOp
    from snapdeploy.interop.netx_writer import write_netx

    def run() -> tuple[Path, Op]:
        graph, artifact = load_model(source)
        return write_netx(graph, out, artifact.manifest.get("netx_input")), graph.ops[0]

    path, first = guarded(run)
    console.print(f"wrote {path}")
    if isinstance(first, SpikeSourceOp) and first.channels_first is not None:
        console.print(
            f"note: the .snap takes {first.channels_first} images in NIR's (C, H, W) order "
            f"and reorders them; netx has no reorder, so the netx network takes them "
            f"channels-last, (H, W, C) flattened (Lava's (x, y, channel)), as read_netx reads it"
        )
