"""The float model's integer-boundary forward: what a deployed `SnapCutNet` must give bit for bit.

The dies and every encoder and decoder run as trained (float, eval mode); each boundary's
spiking layers run as their exported integers on the numpy reference neuron. A deployment
runs the same float operations (the dies as torch.export programs) and the same integer
neuron on any spiking backend, so its outputs and the spikes on every link must equal these.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from snapdeploy.core.graph import ModelGraph, SpikingOp
from snapdeploy.core.neuron import ReferenceNetwork
from snapdeploy.nn.snap_cut import SnapCutNet


@dataclass(frozen=True)
class CutForward:
    outputs: np.ndarray
    #: Per cut: the encoder's spikes and, after any spiking layers, the decoder's input
    #: (both bool [T, batch, positions * width], the wire's layout).
    encoded: list[np.ndarray]
    decoded: list[np.ndarray]


def cut_layers(graph: ModelGraph, cut: int) -> list:
    """The exported integer layers of cut `cut` (named `cut<k>_layer<i>` by export_cut)."""
    prefix = f"cut{cut}_layer"
    return [
        op.params for op in graph.ops if isinstance(op, SpikingOp) and op.name.startswith(prefix)
    ]


@torch.no_grad()
def integer_boundary_forward(net: SnapCutNet, graph: ModelGraph, x: torch.Tensor) -> CutForward:
    """`net` on `x` with each cut's spiking layers replaced by `graph`'s integers."""
    modes = {m: m.training for m in net.modules()}
    net.eval()
    try:
        h = net.dies[0](x)
        encoded, decoded = [], []
        for k, (boundary, die) in enumerate(zip(net.boundaries, net.dies[1:])):
            rows = boundary.encode(h)  # [T, batch * positions, width]
            wire = rows.reshape(rows.shape[0], len(x), -1).numpy().astype(bool)
            layers = cut_layers(graph, k)
            out = ReferenceNetwork(layers).run(wire)[0] if layers else wire
            encoded.append(wire)
            decoded.append(out)
            spikes = torch.from_numpy(out.reshape(rows.shape)).to(rows.dtype)
            h = die(boundary.decode(spikes, h.shape))
    finally:
        for module, mode in modes.items():
            module.train(mode)
    return CutForward(h.numpy(), encoded, decoded)
