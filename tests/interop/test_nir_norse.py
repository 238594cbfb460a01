"""A graph written by Norse 1.1.0's own NIR export, imported and run against Norse.

Norse's `LIFBoxCell` steps `v += dt tau_mem_inv (v_leak - v + i)`, spikes on `v > v_th`
and resets to 0: our LIF with du = 1. Norse 1.1.0 writes `tau = dt / tau_mem_inv` (its
importer reads `tau_mem_inv = 1 / tau`), so NIR's `dt / tau` gives Norse's decay only at
an import dt of Norse's dt squared: 1e-6 for its default 1e-3.
"""

from __future__ import annotations

import pytest
import torch

from snapdeploy.interop import read_nir
from tests.models import neuron_spikes

norse = pytest.importorskip("norse.torch")

T = 20
NORSE_DT = 1e-3


def lif_box(n: int, seed: int) -> torch.nn.Module:
    generator = torch.Generator().manual_seed(seed)
    params = norse.LIFBoxParameters(
        tau_mem_inv=torch.full((n,), 200.0),
        v_th=torch.rand(n, generator=generator) * 0.2 + 0.1,
        v_leak=torch.zeros(n),
    )
    return norse.LIFBoxCell(params, dt=NORSE_DT)


def test_spikes_equal_norse_with_the_delay_accounted_for(tmp_path):
    torch.manual_seed(0)
    model = norse.SequentialState(
        torch.nn.Linear(8, 16), lif_box(16, 1), torch.nn.Linear(16, 5, bias=False), lif_box(5, 2)
    )
    graph = norse.to_nir(model, torch.zeros(1, 8), dt=NORSE_DT)
    x = torch.rand(12, 8) * 2
    theirs: list[list[torch.Tensor]] = [[], []]
    states = [None, None]
    with torch.no_grad():
        for _ in range(T):
            s1, states[0] = model[1](model[0](x), states[0])
            s2, states[1] = model[3](model[2](s1), states[1])
            theirs[0].append(s1)
            theirs[1].append(s2)
    imported = read_nir(graph, steps=T, dt=NORSE_DT**2)
    ours = neuron_spikes(imported.net, x)
    first, second = torch.stack(theirs[0]), torch.stack(theirs[1])
    assert first.sum() > 0 and second.sum() > 0, "the test needs spikes in both layers"
    assert torch.equal(ours[0][:T], first)
    assert torch.equal(ours[1][1:], second)
