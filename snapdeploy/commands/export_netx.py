"""`snapdeploy export --format netx`: a spike-input .snap model's spiking layers as a lava-dl
netx network (the Input block's neurons from the manifest where `snapdeploy import` put them)."""

from __future__ import annotations

from pathlib import Path

from snapdeploy.commands.common import console, guarded


def export_netx(source: Path, out: Path) -> None:
    from snapdeploy.artifact.model import load_model
    from snapdeploy.interop.netx_writer import write_netx

    def run() -> Path:
        graph, artifact = load_model(source)
        return write_netx(graph, out, artifact.manifest.get("netx_input"))

    console.print(f"wrote {guarded(run)}")
