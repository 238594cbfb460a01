"""The host's end of the link to a board: a spiking partition run by `snapdeploy serve` there.

A PYNQ board's host cannot run torch, so torch.distributed cannot reach it; ZeroMQ can (pyzmq
ships with PYNQ images). The host runs the partition's stage as usual, but its executor is a
`RemoteExecutor`: each `run` sends the input spikes as the codec's CRC-checked frames
(`core.packets`) in one request and gets the output spikes back as frames in the reply, so a
corrupt frame is caught on either side. The board keeps the partition's state between
requests, as a local executor does, until `reset`.

A request is a multipart message ``[verb, header JSON, frame, ...]``; a reply is
``[b"ok", header JSON, frame, ...]`` or ``[b"error", message]``. Every reply carries the
serving process's boot id: a different one mid-run means the board restarted and lost its
state, which is a `LinkFailure` like a reply that never comes (`timeout`); a run directory
then continues with `--resume`, as after a lost rank.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import zmq

from snapdeploy.backends import CompiledPartition
from snapdeploy.core.errors import SnapdeployError
from snapdeploy.core.packets import decode_steps, encode_steps
from snapdeploy.runtime.errors import LinkFailure

HELLO, RUN, RESET = b"hello", b"run", b"reset"
OK, ERROR = b"ok", b"error"
#: How long the host waits for a board's reply unless the run says otherwise.
DEFAULT_TIMEOUT_S = 60.0


def frames_in(boundary: int, spikes: np.ndarray) -> list[bytes]:
    """bool [T, batch, n] spikes as frames of `boundary` (the codec's, CRC-checked)."""
    return encode_steps(boundary, spikes)


def spikes_from(frames: list[bytes], header: dict[str, Any], n: int, boundary: int) -> np.ndarray:
    return decode_steps(frames, n, int(header["steps"]), int(header["batch"]), boundary)


class RemoteExecutor:
    """Runs a compiled spiking partition on the board that `snapdeploy serve`s it at `address`.

    Checks at connect that the board serves this very partition (name, widths); a silent board
    or a restarted one is a `LinkFailure` naming the address and partition.
    """

    def __init__(
        self, compiled: CompiledPartition, address: str, timeout: float = DEFAULT_TIMEOUT_S
    ):
        self.compiled = compiled
        self.address = address
        self.timeout = timeout
        self.n_in, self.n_out = compiled.n_in, compiled.n_out
        index = int(compiled.meta["index"])
        self.boundary_in, self.boundary_out = index - 1, index
        self._context = zmq.Context.instance()
        self._socket: zmq.Socket | None = None
        self._boot: str | None = None

    @property
    def name(self) -> str:
        return f"board {self.address} (partition '{self.compiled.partition}')"

    def _connect(self) -> None:
        self._socket = self._context.socket(zmq.REQ)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.connect(self.address)
        header, _ = self._request(HELLO, {})
        served = {key: header.get(key) for key in ("partition", "n_in", "n_out")}
        wanted = {"partition": self.compiled.partition, "n_in": self.n_in, "n_out": self.n_out}
        if served != wanted:
            raise LinkFailure(
                f"{self.name}: the board serves {served}, expected {wanted}; fix: start "
                f"`snapdeploy serve BUILD --partition {self.compiled.partition}` there with "
                f"this build"
            )
        self._boot = header["boot"]

    def _request(
        self, verb: bytes, header: dict[str, Any], frames: Sequence[bytes] = ()
    ) -> tuple[dict[str, Any], list[bytes]]:
        """Send one request, wait at most `timeout` for its reply: (reply header, frames)."""
        socket = self._socket
        socket.send_multipart([verb, json.dumps(header).encode(), *frames])
        if not socket.poll(int(self.timeout * 1000)):
            self._drop()
            raise LinkFailure(
                f"{self.name}: no reply within {self.timeout:g} s (the board process is gone, "
                f"or the link dropped); fix: restart `snapdeploy serve` there and rerun with "
                f"--resume"
            )
        reply = socket.recv_multipart()
        if reply[0] == ERROR:
            raise SnapdeployError(f"{self.name}: {reply[1].decode(errors='replace')}")
        answer = json.loads(reply[1])
        if self._boot is not None and answer.get("boot") != self._boot:
            self._drop()
            raise LinkFailure(
                f"{self.name}: the board restarted during the run and lost the partition's "
                f"state; fix: rerun with --resume"
            )
        return answer, reply[2:]

    def _drop(self) -> None:
        """A REQ socket that missed its reply cannot send again: the next use reconnects."""
        if self._socket is not None:
            self._socket.close(linger=0)
        self._socket, self._boot = None, None

    def run(self, inputs: np.ndarray) -> np.ndarray:
        if self._socket is None:
            self._connect()
        steps, batch, _ = inputs.shape
        header = {"steps": steps, "batch": batch}
        answer, frames = self._request(RUN, header, frames_in(self.boundary_in, inputs))
        return spikes_from(frames, answer, self.n_out, self.boundary_out)

    def reset(self) -> None:
        if self._socket is None:
            self._connect()
        self._request(RESET, {})

    def close(self) -> None:
        self._drop()
