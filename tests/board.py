"""A build whose spiking partition is served by `snapdeploy serve` in another process, as the
board-link tests (tests/runtime/test_board_link.py) and the wheel's test (test_packaging.py)
run it: a two-device target (torch here, the reference on a board at 127.0.0.1:PORT)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from snapdeploy.compile import compile_graph
from snapdeploy.quant.export import export_model
from snapdeploy.targets import load_target
from tests.models import hybrid_net

T = 6
SPIKING = "p1_spiking"
TARGET = """
[target]
name = "board"
description = "torch here, the spiking partition on a board served over ZeroMQ"

[devices.host]
kind = "torch"
device = "cpu"

[devices.board]
{device}
{host}

[[links]]
from = "host"
to = "board"
bandwidth_gbps = 1.0
latency_ns = 100000
energy_pj_per_bit = 10.0
"""
#: The board's device table by kind: the numpy reference, or the HLS core (its C-simulation).
BOARD_DEVICES = {
    "reference": 'kind = "reference"',
    "hls": 'kind = "hls"\npart = "xc7z020clg400-1"\nboard = "pynq-z2"\nlif_cores = 2\n'
    "neurons_per_core = 256",
}
#: Runs the CLI of the snapdeploy this interpreter imports.
THIS_CLI = [sys.executable, "-c", "import sys; from snapdeploy.cli import app; app(sys.argv[1:])"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def compiled(tmp_path: Path, host: str | None, kind: str = "reference") -> Path:
    """The small hybrid net compiled for the target, its spiking device (of `kind`) at `host`,
    or here."""
    graph = export_model(hybrid_net([5, 4, 3], T, n_in=6, n_out=2, gain=3.0))
    where = f"{kind}-{'board' if host else 'local'}"
    path = tmp_path / f"target-{where}.toml"
    host_line = f'host = "{host}"' if host else ""
    path.write_text(TARGET.format(device=BOARD_DEVICES[kind], host=host_line))
    out = tmp_path / f"{where}-build"
    compile_graph(graph, load_target(path), out)
    return out


class Board:
    """`snapdeploy serve` in a subprocess (`cli`: which snapdeploy), waited for until bound."""

    def __init__(self, build: Path, port: int, cli: list[str] = THIS_CLI, **popen):
        self.build, self.port, self.cli, self.popen = build, port, cli, popen
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        args = ["serve", str(self.build), "--partition", SPIKING]
        args += ["--bind", f"tcp://127.0.0.1:{self.port}"]
        self.process = subprocess.Popen(
            [*self.cli, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            **self.popen,
        )  # fmt: skip
        line = self.process.stdout.readline()  # printed once the socket is bound
        if f"serving partition '{SPIKING}'" not in line:
            self.process.wait(timeout=30)
            raise AssertionError(f"serve did not start: {line}{self.process.stderr.read()}")

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.kill()
