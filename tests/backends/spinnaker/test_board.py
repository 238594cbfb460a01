"""The board's keys: each slice's base key spells its chip's x and y and its core in the key
layout's fields, with the neuron field clear, so no two slices share a key."""

from __future__ import annotations

import numpy as np
from hypothesis import assume, given, settings

from tests.backends.spinnaker.cases import fits, mapped, networks


@settings(max_examples=40, deadline=None)
@given(networks())
def test_each_base_key_spells_its_chip_and_core(case) -> None:
    device, layers, _ = case
    assume(fits(device, layers))
    board = mapped(device, layers).board()
    layout, base = board.layout, board.base
    assert board.n_slices == len(base) == len(set(base.tolist()))
    fields = []
    for bits in (layout.neuron_bits, layout.core_bits, layout.y_bits, layout.x_bits):
        fields.append(base & ((1 << bits) - 1))
        base = base >> bits
    neuron, core, y, x = fields
    assert not neuron.any() and not base.any()
    np.testing.assert_array_equal(np.stack([x, y], axis=1), board.mesh.xy[board.chip])
    np.testing.assert_array_equal(core, board.core)
