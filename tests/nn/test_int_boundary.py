"""snapdeploy.nn.int_boundary: the int8/int4 alternative to spikes at a die cut."""

from __future__ import annotations

import pytest
import torch

from snapdeploy.core.errors import ModelStructureError
from snapdeploy.nn import snap_cut
from snapdeploy.nn.int_boundary import IntBoundary, int_cut
from tests.cut_models import tiny_gpt, tiny_resnet


def test_values_land_on_the_integer_grid_and_clip():
    q = IntBoundary(4, bits=4, signed=True, clip=7.0)  # scale 1
    x = torch.tensor([-20.0, -3.4, 0.6, 2.5, 6.9, 20.0])
    assert q(x).tolist() == [-8.0, -3.0, 1.0, 2.0, 7.0, 7.0]
    unsigned = IntBoundary(4, bits=2, signed=False, clip=3.0)
    assert unsigned(torch.tensor([-1.0, 1.4, 9.0])).tolist() == [0.0, 1.0, 3.0]


def test_rounding_passes_gradients_to_the_input_and_the_scale():
    q = IntBoundary(3, bits=8, signed=True, clip=1.0)
    x = torch.tensor([0.3, -0.2, 5.0], requires_grad=True)
    q(x).sum().backward()
    assert x.grad.tolist() == [1.0, 1.0, 0.0]  # straight through inside, none where clipped
    assert q.log_scale.grad is not None and q.log_scale.grad != 0


def test_int_cut_copies_the_dies_and_quantizes_every_cut():
    torch.manual_seed(0)
    images = torch.randn(4, 1, 12, 12)
    net = snap_cut(tiny_resnet().eval(), cuts=[1, 2], steps=2, example=images).eval()
    q = int_cut(net, 8).eval()
    assert [b.bits for b in q.boundaries] == [8, 8] and q.cuts == net.cuts
    assert q.dies[0] is not net.dies[0]
    dense = net.set_spiking(False)(images)
    assert torch.allclose(q(images), dense, atol=0.2 * dense.abs().max().item())


def test_signed_cuts_stay_signed():
    tokens = torch.randint(0, 32, (2, 8))
    net = snap_cut(tiny_gpt(layers=2), cuts=[2], steps=2, example=tokens)
    (boundary,) = int_cut(net, 4).boundaries
    assert boundary.signed and (boundary.low, boundary.high) == (-8, 7)


def test_bit_widths_out_of_range_are_refused():
    with pytest.raises(ModelStructureError, match="2..16 bits"):
        IntBoundary(4, bits=1, signed=False, clip=1.0)
