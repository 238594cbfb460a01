"""The board's end of the link: one compiled spiking partition served over ZeroMQ.

`snapdeploy serve BUILD --partition NAME` runs this on the board (numpy and pynq only, no
torch): it loads the partition with its backend, binds a REP socket, and answers the host's
`RemoteExecutor` one request at a time: run these frames' spikes, reset the state, or say
which partition is served. Frames are decoded and checked (CRC, counts) before use; a request
that fails is answered with the error, and the server goes on.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import zmq

from snapdeploy.backends import CompiledPartition, entry, get_backend
from snapdeploy.core.errors import SnapdeployError
from snapdeploy.runtime.board_link import ERROR, HELLO, OK, RESET, RUN, frames_in, spikes_from
from snapdeploy.runtime.pipeline import read_build

DEFAULT_BIND = "tcp://127.0.0.1:5555"


def served_partition(build_dir: Path, name: str) -> CompiledPartition:
    """The compiled spiking partition `name` of a (verified) build."""
    info = read_build(build_dir)
    by_name = {c.partition: c for c in info.compiled}
    spiking = [c.partition for c in info.compiled if entry(c.kind).role == "spiking"]
    if name not in by_name or name not in spiking:
        raise SnapdeployError(
            f"{build_dir} has no spiking partition '{name}'; its spiking partitions: "
            f"{', '.join(spiking) or 'none'}; fix: pass one of them to --partition"
        )
    return by_name[name]


class BoardServer:
    """Answers a host's requests for one loaded partition until `stop` or a `serve` limit."""

    def __init__(self, build_dir: Path, partition: str, bind: str = DEFAULT_BIND):
        self.compiled = served_partition(Path(build_dir), partition)
        self.executor = get_backend(self.compiled.kind).load(self.compiled)
        self.boot = uuid.uuid4().hex
        self.socket = zmq.Context.instance().socket(zmq.REP)
        self.socket.setsockopt(zmq.LINGER, 0)
        try:
            self.socket.bind(bind)
        except zmq.ZMQError as exc:
            self.close()
            raise SnapdeployError(f"cannot bind {bind}: {exc}; fix: pass a free --bind") from exc
        self.address = self.socket.getsockopt_string(zmq.LAST_ENDPOINT)
        index = int(self.compiled.meta["index"])
        self.boundary_in, self.boundary_out = index - 1, index

    def handle(self, message: list[bytes]) -> list[bytes]:
        """One request's reply; our errors are sent back, not raised."""
        answer: dict[str, Any] = {"boot": self.boot}
        try:
            verb, header = message[0], json.loads(message[1]) if len(message) > 1 else {}
            if verb == HELLO:
                c = self.compiled
                answer |= {"partition": c.partition, "n_in": c.n_in, "n_out": c.n_out}
                return [OK, json.dumps(answer).encode()]
            if verb == RESET:
                self.executor.reset()
                return [OK, json.dumps(answer).encode()]
            if verb == RUN:
                spikes = spikes_from(message[2:], header, self.compiled.n_in, self.boundary_in)
                out = self.executor.run(spikes)
                answer |= {"steps": out.shape[0], "batch": out.shape[1]}
                return [OK, json.dumps(answer).encode(), *frames_in(self.boundary_out, out)]
            raise SnapdeployError(f"unknown request {verb!r}; fix: use the same snapdeploy")
        except (SnapdeployError, ValueError, KeyError, TypeError) as exc:  # a malformed request
            return [ERROR, f"{type(exc).__name__}: {exc}".encode()]

    def serve(self, keep_going: Callable[[], bool] = lambda: True) -> None:
        """Answer requests while `keep_going()` (checked at least every 0.2 s)."""
        while keep_going():
            if self.socket.poll(200):
                self.socket.send_multipart(self.handle(self.socket.recv_multipart()))

    def close(self) -> None:
        self.socket.close(linger=0)
        self.executor.close()
