"""Quantization-aware fine-tuning of a Brevitas twin, resumable after an interruption.

Loss is the task's cross-entropy plus `sparsity_weight` times the mean spike rate (link
traffic, as in float training). After every epoch the twin, the optimizer, the shuffling
generator and torch's global generator (dropout) are checkpointed atomically, so a run that
is killed resumes from its last finished epoch and ends exactly where an uninterrupted run
with the same seed would. A checkpoint of a different run (model, data or settings) is
refused rather than silently continued.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.progress import Progress
from torch import nn

from snapdeploy.core.errors import SnapdeployError
from snapdeploy.nn.hybrid import HybridNet
from snapdeploy.quant.brevitas_twin import calibrate_activations
from snapdeploy.quant.checkpoint import load_checkpoint, save_checkpoint


@dataclass(frozen=True)
class FinetuneConfig:
    epochs: int = 10
    lr: float = 1e-3
    sparsity_weight: float = 1e-3
    batch_size: int = 64
    seed: int = 0


def run_digest(twin: HybridNet, x: np.ndarray, y: np.ndarray, config: FinetuneConfig) -> str:
    """What identifies a run, epochs aside: the starting twin, the data and the settings."""
    digest = hashlib.sha256(repr({**asdict(config), "epochs": None}).encode())
    for name, tensor in twin.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    digest.update(np.ascontiguousarray(x).tobytes())
    digest.update(np.ascontiguousarray(y).tobytes())
    return digest.hexdigest()


def train_epoch(
    twin: HybridNet,
    optimizer: torch.optim.Optimizer,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    generator: torch.Generator,
    config: FinetuneConfig,
) -> float:
    """One pass over shuffled batches; the mean loss."""
    order = torch.randperm(len(inputs), generator=generator)
    task_loss = nn.CrossEntropyLoss()
    losses = []
    for start in range(0, len(order), config.batch_size):
        idx = order[start : start + config.batch_size]
        loss = task_loss(twin(inputs[idx]), targets[idx])
        loss = loss + config.sparsity_weight * twin.sparsity_loss()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return float(np.mean(losses))


def resume(
    state: dict[str, Any], path: Path, digest: str, twin: HybridNet, generator: torch.Generator
) -> list[float]:
    """Restore a checkpoint of this same run (all but the optimizer); return the losses of its
    finished epochs."""
    if state.get("run") != digest:
        raise SnapdeployError(
            f"{path} is the checkpoint of a different fine-tune (model, data or settings "
            f"differ); fix: delete it, or pass the same model, data and settings to resume"
        )
    twin.load_state_dict(state["twin"])
    generator.set_state(state["generator"])
    torch.set_rng_state(state["torch_rng"])
    return list(state["history"])


def finetune(
    twin: HybridNet,
    x: np.ndarray,
    y: np.ndarray,
    config: FinetuneConfig,
    checkpoint: Path | None = None,
    progress: bool = True,
) -> list[float]:
    """Fine-tune `twin` in place up to `config.epochs` epochs; the mean loss of each epoch.

    With `checkpoint`, an existing checkpoint of this run is resumed and a new one is written
    after every epoch. Activation scales not yet set are first calibrated on `x`.
    """
    inputs, targets = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y)
    calibrate_activations(twin, inputs, config.batch_size)
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    digest = run_digest(twin, x, y, config)
    state = load_checkpoint(checkpoint) if checkpoint is not None else None
    history = resume(state, checkpoint, digest, twin, generator) if state else []
    # Built after resuming: Brevitas rebuilds its quantizers (new scale Parameters) on load.
    optimizer = torch.optim.Adam(twin.parameters(), lr=config.lr)
    if state:
        optimizer.load_state_dict(state["optimizer"])
    twin.train()
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("fine-tuning (QAT)", total=config.epochs, completed=len(history))
        for _ in range(len(history), config.epochs):
            history.append(train_epoch(twin, optimizer, inputs, targets, generator, config))
            if checkpoint is not None:
                save_checkpoint(
                    checkpoint,
                    {
                        "run": digest,
                        "twin": twin.state_dict(),
                        "optimizer": optimizer.state_dict(),
                        "generator": generator.get_state(),
                        "torch_rng": torch.get_rng_state(),
                        "history": history,
                    },
                )
            bar.update(task, advance=1, description=f"fine-tuning (QAT) loss {history[-1]:.3f}")
    twin.eval()
    return history
