"""Reading what a user quantizes: a trained model file and, optionally, their own data.

A model file is either what `snapdeploy train` writes (the demo network's settings and
weights, read with `weights_only=True`) or a user's `torch.save(my_hybridnet, path)`, which
torch can only read by unpickling: load such files only from sources you trust. Data is an
`.npz` with `x_train`, `y_train`, `x_test`, `y_test`, or by default the bundled digits.
"""

from __future__ import annotations

import io
import pickle
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from snapdeploy.core.errors import SnapdeployError, UnsupportedLayerError
from snapdeploy.core.files import atomic_write
from snapdeploy.data import Split, digits
from snapdeploy.nn.demo_net import DemoNet, demo_model
from snapdeploy.nn.hybrid import HybridNet

MODEL_FORMAT = "snapdeploy.demo-model/1"
SPLIT_KEYS = tuple(f.name for f in fields(Split))


def save_trained(path: Path, model: HybridNet, net: DemoNet, info: dict[str, Any]) -> None:
    """Write a trained demo network as plain tensors and its shape, atomically."""
    buffer = io.BytesIO()
    shape = {field.name: getattr(net, field.name) for field in fields(DemoNet)}
    saved = {"format": MODEL_FORMAT, "shape": shape, "state": model.state_dict(), **info}
    torch.save(saved, buffer)
    atomic_write(path, buffer.getvalue())


def read_torch_file(path: Path) -> Any:
    """Plain state when the file is ours; otherwise torch's unpickling of a saved module."""
    fix = "fix: pass a file written by `snapdeploy train` or by torch.save(model, path)"
    if not path.is_file():
        raise SnapdeployError(f"model file {path} does not exist; {fix}")
    try:
        return torch.load(path, weights_only=True)
    except pickle.UnpicklingError:
        pass  # not plain state: a pickled module, read below
    except Exception as exc:  # a foreign file can fail to unpickle in any way
        raise SnapdeployError(f"{path} is not a torch file ({type(exc).__name__}); {fix}") from exc
    try:
        return torch.load(path, weights_only=False)
    except Exception as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SnapdeployError(f"{path} is not a readable model file ({reason}); {fix}") from exc


def load_hybridnet(path: Path) -> HybridNet:
    """The float model in a model file (see the module docstring for the two kinds)."""
    saved = read_torch_file(path)
    if isinstance(saved, dict) and saved.get("format") == MODEL_FORMAT:
        model = demo_model(DemoNet(**saved["shape"]))
        model.load_state_dict(saved["state"])
        return model.eval()
    if isinstance(saved, HybridNet):
        return saved.eval()
    raise UnsupportedLayerError(
        f"{path} holds a {type(saved).__name__}, not a snapdeploy HybridNet; fix: save the "
        f"model itself with torch.save(my_hybridnet, path), or train one with `snapdeploy train`"
    )


def load_split(path: Path | None, model: HybridNet, seed: int = 0) -> Split:
    """The user's data (or the bundled digits), checked against the model's input shape."""
    if path is None:
        split, source = digits(seed=seed), "the bundled digits"
    else:
        try:
            with np.load(path) as arrays:
                split = Split(*(arrays[key] for key in SPLIT_KEYS))
        except (OSError, ValueError, KeyError) as exc:
            raise SnapdeployError(
                f"{path}: cannot read the data ({exc}); fix: save it with np.savez(path, "
                f"{', '.join(f'{k}=...' for k in SPLIT_KEYS)})"
            ) from exc
        source = str(path)
    if tuple(split.x_train.shape[1:]) != tuple(model.input_shape):
        raise SnapdeployError(
            f"the model takes inputs of shape {tuple(model.input_shape)} but {source} has "
            f"{tuple(split.x_train.shape[1:])}; fix: pass --data with matching x_train/x_test"
        )
    return Split(
        split.x_train.astype(np.float32),
        split.y_train.astype(np.int64),
        split.x_test.astype(np.float32),
        split.y_test.astype(np.int64),
    )
