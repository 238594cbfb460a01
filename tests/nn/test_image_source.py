"""The spike source of NIR-ordered images: each step's (C, H, W) spikes handed on channels-last,
(H, W, C) flattened, checked as any spike input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from snapdeploy.core.errors import SpikeInputError
from snapdeploy.nn.image_source import ImageSpikeSource


@settings(max_examples=20, deadline=None)
@given(
    dims=st.tuples(st.integers(1, 4), st.integers(1, 5), st.integers(1, 5)),
    steps=st.integers(1, 4),
    seed=st.integers(0, 2**16),
)
def test_each_step_is_reordered_channels_last(dims, steps, seed):
    c, h, w = dims
    x = np.random.default_rng(seed).random((3, steps, c, h, w)) < 0.5
    got = ImageSpikeSource(dims, steps)(torch.from_numpy(x.reshape(3, steps, -1)).float())
    want = x.transpose(1, 0, 3, 4, 2).reshape(steps, 3, -1)  # [T, batch, (H, W, C)]
    np.testing.assert_array_equal(got.numpy().astype(bool), want)


@pytest.mark.parametrize("dims", [(2, 3), (0, 4, 4), (2, -1, 3)])
def test_dims_that_are_not_an_image_are_refused(dims):
    with pytest.raises(SpikeInputError, match=r"\(C, H, W\)"):
        ImageSpikeSource(dims, 4)


def test_input_that_is_not_the_image_is_refused_as_any_spike_input():
    source = ImageSpikeSource((2, 3, 3), 4)
    with pytest.raises(SpikeInputError, match=r"\[batch, 4, 18\]"):
        source(torch.zeros(1, 4, 17))
    with pytest.raises(SpikeInputError, match="not 0 or 1"):
        source(torch.full((1, 4, 18), 0.5))
