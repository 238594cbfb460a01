"""snnTorch's CSNN (Conv2d + AvgPool2d + Leaky twice, then Linear + Leaky) as its tutorials
build it, its own per-layer spikes, and how far ours agree: shared by the NIR conv tests.
Import it after `pytest.importorskip("snntorch")`."""

from __future__ import annotations

import numpy as np
import snntorch as snn
import torch
from snntorch import utils as snn_utils

from snapdeploy.interop.conv_runs import channels_last_order

NEURON_LAYERS = (2, 5, 8)  # the Leaky modules' indices in the Sequential
BETA = 0.9


def csnn(
    in_channels: int,
    kernels: tuple[int, int],
    shapes: tuple[tuple[int, ...], ...],
    reset: str,
) -> torch.nn.Sequential:
    """The CSNN with weights x4 (so every layer spikes), seeded; `shapes` are its three Leaky
    layers' output shapes, the last one's (n,) the classes."""
    torch.manual_seed(0)
    leaky = lambda shape, **kw: snn.Leaky(
        beta=torch.full(shape, BETA), threshold=torch.ones(shape), init_hidden=True,
        reset_mechanism=reset, **kw,
    )  # fmt: skip
    hidden, flat, classes = shapes[0][0], int(np.prod(shapes[1])), shapes[2][0]
    net = torch.nn.Sequential(
        torch.nn.Conv2d(in_channels, hidden, kernels[0], bias=False), torch.nn.AvgPool2d(2),
        leaky(shapes[0]),
        torch.nn.Conv2d(hidden, shapes[1][0], kernels[1], bias=False), torch.nn.AvgPool2d(2),
        leaky(shapes[1]),
        torch.nn.Flatten(), torch.nn.Linear(flat, classes, bias=False),
        leaky(shapes[2], output=True),
    )  # fmt: skip
    with torch.no_grad():
        for module in net:
            if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
                module.weight.mul_(4.0)
    return net


def snntorch_spikes(net: torch.nn.Sequential, x: torch.Tensor) -> list[np.ndarray]:
    """Each Leaky layer's spikes [T, batch, n] (NIR's flat order) for spikes x [batch, T, ...]."""
    snn_utils.reset(net)
    out: list[list[torch.Tensor]] = [[] for _ in NEURON_LAYERS]
    with torch.no_grad():
        for t in range(x.shape[1]):
            h = x[:, t]
            for i, module in enumerate(net):
                h = module(h)
                h = h[0] if isinstance(h, tuple) else h
                if i in NEURON_LAYERS:
                    out[NEURON_LAYERS.index(i)].append(h.reshape(len(x), -1))
    return [torch.stack(o).numpy().astype(bool) for o in out]


def agreement(
    theirs: list[np.ndarray],
    ints: list[np.ndarray],
    floats: list[np.ndarray],
    shapes: tuple[tuple[int, ...], ...],
    steps: int,
) -> dict[str, list[float]]:
    """Per layer: the fraction of spike positions where our integer and float runs equal
    snnTorch's, and both spike totals; layer k of ours is read k + 1 steps later (our synapse
    delays) and in channels-last order."""
    figures: dict[str, list[float]] = {"equal": [], "float_equal": [], "theirs": [], "ours": []}
    for k, shape in enumerate(shapes):
        want = theirs[k][..., channels_last_order(shape)]
        got, got_float = ints[k][k + 1 : k + 1 + steps], floats[k][k + 1 : k + 1 + steps]
        assert want.sum() > 100, "every layer must spike for the comparison to mean anything"
        figures["equal"].append(float((got == want).mean()))
        figures["float_equal"].append(float((got_float == want).mean()))
        figures["theirs"].append(int(want.sum()))
        figures["ours"].append(int(got.sum()))
    return figures
