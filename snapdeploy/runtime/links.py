"""Links carry encoded frames between two stages: a queue in one process, or torch.distributed.

Both move the very bytes of `core.packets`, so what is counted on one is what the other would
carry. A receive waits at most `timeout` seconds; a peer that died or went silent is a
`LinkFailure`, never a hang.
"""

from __future__ import annotations

import queue
from collections import deque
from datetime import timedelta
from typing import Protocol

import numpy as np

from snapdeploy.runtime.errors import LinkFailure

#: Placed on an in-process link by a stage that failed, so its receiver stops at once.
ABORT = b""


class Link(Protocol):
    """One direction of one boundary."""

    name: str

    def send(self, frame: bytes) -> None: ...

    def recv(self, timeout: float) -> bytes: ...

    def flush(self, timeout: float) -> None: ...


class QueueLink:
    """A boundary between two stages of one process (threads or one thread)."""

    def __init__(self, name: str):
        self.name = name
        self._queue: queue.Queue[bytes] = queue.Queue()

    def send(self, frame: bytes) -> None:
        self._queue.put(frame)

    def abort(self) -> None:
        self._queue.put(ABORT)

    def recv(self, timeout: float) -> bytes:
        try:
            frame = self._queue.get(timeout=timeout)
        except queue.Empty:
            raise LinkFailure(f"{self.name}: nothing arrived within {timeout:g} s") from None
        if frame is ABORT:
            raise LinkFailure(f"{self.name}: the sending stage failed")
        return frame

    def flush(self, timeout: float) -> None:
        """Nothing in flight: a put is complete when it returns."""


class DistLink:
    """A boundary between two ranks over torch.distributed (gloo): a length, then the bytes.

    Sends are asynchronous so the sender goes on with the next step (the pipeline); at most
    `window` sends are in flight before the oldest is waited for.
    """

    def __init__(self, name: str, peer: int, window: int = 64):
        self.name = name
        self.peer = peer
        self.window = window
        self._pending: deque = deque()

    def send(self, frame: bytes) -> None:
        import torch
        import torch.distributed as dist

        length = torch.tensor([len(frame)], dtype=torch.int64)
        payload = torch.frombuffer(bytearray(frame), dtype=torch.uint8)
        for tensor in (length, payload):
            self._pending.append((dist.isend(tensor, self.peer), tensor))
        while len(self._pending) > self.window:
            self._wait(self._pending.popleft()[0], timeout=None)

    def recv(self, timeout: float) -> bytes:
        import torch
        import torch.distributed as dist

        length = torch.zeros(1, dtype=torch.int64)
        self._wait(dist.irecv(length, self.peer), timeout)
        payload = torch.empty(int(length.item()), dtype=torch.uint8)
        self._wait(dist.irecv(payload, self.peer), timeout)
        return np.asarray(payload).tobytes()

    def flush(self, timeout: float) -> None:
        while self._pending:
            self._wait(self._pending.popleft()[0], timeout)

    def _wait(self, work, timeout: float | None) -> None:
        try:
            if timeout is None:
                work.wait()
            else:
                work.wait(timedelta(seconds=timeout))
        except RuntimeError as error:  # gloo: peer closed the connection, or the wait timed out
            reason = (
                str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            )
            raise LinkFailure(f"{self.name}: rank {self.peer} is lost ({reason})") from None
