"""A conv core's synaptic input: each packet's neuron scatters its shared kernel into the slice.

As sPyNNaker's local-only convolution: the core keeps its layer's kernel once and no synaptic
rows; for each packet it recovers the sending neuron's (x, y, channel) from the key (the
source slice's first neuron plus the key's neuron field), and adds, for every kernel tap that
lands on an output position, the tap's weights for the output channels of the neuron's group,
keeping the outputs its own slice runs. The sum is of unshifted weights; `synaptic_input`
shifts and wraps it as Lava's Conv does.

`layer_sums` is the fast path's form: the whole layer's sums compiled (`core.conv_native`),
equal to what its cores add up when every pre slice reaching a core delivers it one copy per
spike, which `tables.SliceTraffic` checks before the emulator takes that path.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable

import numpy as np

from snapdeploy.backends.spinnaker.conv_slicing import input_reach
from snapdeploy.core.conv import ConvSynapse
from snapdeploy.core.conv_native import NativeConv


class ConvCore:
    """The kernel of one core running outputs [lo, hi) of a conv, laid out by tap and input
    channel: taps[i, j, c] are the weights of (padded) offset (i, j) from input channel c onto
    the output channels of c's group."""

    def __init__(self, conv: ConvSynapse, lo: int, hi: int):
        self.conv, self.lo, self.hi = conv, lo, hi
        self.reach = input_reach(conv, lo, hi)
        groups, (kx, ky) = conv.groups, conv.kernel
        c_in, c_out = conv.input_shape[2], conv.output_shape[2]
        flipped = conv.weights[:, ::-1, ::-1, :].reshape(
            groups, c_out // groups, kx, ky, c_in // groups
        )
        self.taps = flipped.transpose(2, 3, 0, 4, 1).reshape(kx, ky, c_in, c_out // groups)

    def has_synapse(self, pre: np.ndarray) -> np.ndarray:
        """Whether each presynaptic neuron reaches this core's slice through the kernel."""
        return self.reach[pre]

    def sums(self, item: np.ndarray, pre: np.ndarray, batch: int) -> np.ndarray:
        """int64 [batch, hi - lo]: the kernel weights the packets (batch item, presynaptic
        neuron) add onto this slice, one packet at a time, summed exactly in float64."""
        conv, width = self.conv, self.hi - self.lo
        (sx, sy), (px, py), (dx, dy) = conv.stride, conv.padding, conv.dilation
        (_, y_in, c_in), (x_out, y_out, c_out) = conv.input_shape, conv.output_shape
        per_group = c_out // conv.groups
        x, rest = np.divmod(pre, y_in * c_in)
        y, channel = np.divmod(rest, c_in)
        first_channel = channel // (c_in // conv.groups) * per_group
        flat, values = [], []
        for i, j in itertools.product(*map(range, conv.kernel)):
            xs, ys = x + px - i * dx, y + py - j * dy  # padded input = output * stride + tap
            hit = (xs >= 0) & (ys >= 0) & (xs % sx == 0) & (ys % sy == 0)
            hit &= (xs // sx < x_out) & (ys // sy < y_out)
            first = ((xs // sx * y_out + ys // sy) * c_out + first_channel)[hit]
            out = first[:, None] + np.arange(per_group)[None, :] - self.lo
            mine = (out >= 0) & (out < width)
            flat.append((item[hit][:, None] * width + out)[mine])
            values.append(self.taps[i, j, channel[hit]][mine])
        summed = np.bincount(
            np.concatenate(flat), np.concatenate(values).astype(np.float64), batch * width
        )
        return summed.astype(np.int64).reshape(batch, width)


def layer_sums(conv: ConvSynapse) -> Callable[[np.ndarray], np.ndarray]:
    """int64 [batch, n_out] unshifted sums of a whole conv layer from bool [batch, n_in], compiled."""
    return NativeConv(dataclasses.replace(conv, weight_exp=0)).sums
