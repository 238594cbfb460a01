"""Training a hybrid network in float: task loss plus a weighted spike rate.

The sparsity term is what SNAP trades: fewer spikes at the boundaries means fewer bytes on
the die-to-die links. Shared by the demo and by fine-tuning.
"""

from __future__ import annotations

import numpy as np
import torch
from rich.progress import Progress
from torch import nn

from snapdeploy.nn.hybrid import HybridNet


def fit(
    model: HybridNet,
    x: np.ndarray,
    y: np.ndarray,
    epochs: int,
    lr: float = 3e-3,
    sparsity_weight: float = 1e-2,
    batch_size: int = 64,
    seed: int = 0,
    progress: bool = True,
) -> list[float]:
    """Adam on cross-entropy + sparsity_weight * spike rate; returns the mean loss per epoch."""
    generator = torch.Generator().manual_seed(seed)
    inputs, targets = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    task_loss = nn.CrossEntropyLoss()
    history = []
    model.train()
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("training (float)", total=epochs)
        for epoch in range(epochs):
            order = torch.randperm(len(inputs), generator=generator)
            losses = []
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                loss = task_loss(model(inputs[idx]), targets[idx])
                loss = loss + sparsity_weight * model.sparsity_loss()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
            history.append(float(np.mean(losses)))
            bar.update(task, advance=1, description=f"training (float) loss {history[-1]:.3f}")
    model.eval()
    return history


@torch.no_grad()
def predict(model: HybridNet, x: np.ndarray) -> np.ndarray:
    """Class scores of the float model on `x`."""
    model.eval()
    return model(torch.as_tensor(x, dtype=torch.float32)).numpy()


def accuracy(scores: np.ndarray, y: np.ndarray) -> float:
    """Fraction of samples whose highest score is the label (a fraction in 0..1)."""
    return float((scores.argmax(axis=1) == y).mean()) if len(y) else 0.0
