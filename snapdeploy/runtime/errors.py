"""Errors of a running deployment: a link that stopped answering, a frame that arrived bad.

Each names the link (boundary, sending and receiving device) and the last step completed, so
an operator knows which device failed and where `--resume` will pick up.
"""

from __future__ import annotations

from snapdeploy.core.errors import PacketError, SnapdeployError


class LinkFailure(SnapdeployError):
    """A link's peer died, dropped its connection, or sent nothing within the timeout."""


class CorruptFrameError(PacketError):
    """A frame failed its checks (CRC, length, counts) on a named link; it was not used."""


class RankFailure(SnapdeployError):
    """A rank of a multi-process run exited with an error or was killed."""
