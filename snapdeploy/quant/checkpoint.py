"""Fine-tune checkpoints: written atomically, so an interruption never leaves half of one.

A checkpoint is a `torch.save` of plain state (tensors, numbers, strings, lists, dicts), read
back with `weights_only=True`: opening one runs no pickled code.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch

from snapdeploy.core.errors import SnapdeployError
from snapdeploy.core.files import atomic_write


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Replace `path` with `state` in one step."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write(path, buffer.getvalue())


def load_checkpoint(path: Path) -> dict[str, Any] | None:
    """The state saved at `path`, or None when there is no checkpoint yet."""
    if not path.exists():
        return None
    try:
        state = torch.load(io.BytesIO(path.read_bytes()), weights_only=True)
    except Exception as exc:  # a truncated or foreign file can fail to unpickle in any way
        raise SnapdeployError(
            f"{path}: not a readable fine-tune checkpoint ({type(exc).__name__}); fix: delete "
            f"it to start the fine-tune over"
        ) from exc
    if not isinstance(state, dict):
        raise SnapdeployError(f"{path}: not a fine-tune checkpoint; fix: delete it to start over")
    return state
