"""Conv and pool layers on cores: which inputs reach a slice, how wide a slice is, its kernel.

As sPyNNaker's `ConvolutionConnector` (a local-only synapse): a core keeps the kernel once, as
shared weights, never expanded into a synaptic matrix; the post-population is cut by output
rows, then whole pixels, then channels; a pre slice is routed to a post slice only where some
neuron of it reaches the slice through a non-zero tap (sPyNNaker's `get_connected_vertices`,
here exact per neuron rather than per rectangle). A pool layer is the depthwise conv it is
(`core.conv.PoolSynapse.conv`), so it maps and runs as a conv.

Slices are contiguous ranges of Lava's (x, y, channel) order, so a slice of whole output rows
is a band of x, one of whole pixels a run of (x, y), and one below a pixel a set of channels;
keys, routes and tables stay those of any other population.
"""

from __future__ import annotations

import numpy as np

from snapdeploy.core.conv import ConvLayerParams, ConvSynapse, PoolSynapse
from snapdeploy.core.neuron import LifLayerParams


def conv_of(layer: LifLayerParams | ConvLayerParams) -> ConvSynapse | None:
    """The conv a layer's cores compute (a pool's depthwise conv); None for a Dense layer."""
    if not isinstance(layer, ConvLayerParams):
        return None
    synapse = layer.synapse
    return synapse.conv if isinstance(synapse, PoolSynapse) else synapse


def channel_weights(conv: ConvSynapse) -> int:
    """Kernel weights of one output channel: its taps times the input channels of its group."""
    return int(np.prod(conv.weights.shape[1:]))


def kernel_weights(conv: ConvSynapse, width: int) -> int:
    """Kernel weights a core of `width` neurons keeps: those of the channels it runs (a run of
    `width` consecutive neurons holds min(width, C_out) distinct channels)."""
    return min(width, conv.output_shape[2]) * channel_weights(conv)


def aligned_width(conv: ConvSynapse, width: int) -> int:
    """`width` cut down to whole output rows (x), else whole pixels, else a divisor of the
    channels, so every slice covers the same rows or channels."""
    _, y_out, channels = conv.output_shape
    for unit in (y_out * channels, channels):
        if width >= unit:
            return width // unit * unit
    return max(d for d in range(1, width + 1) if channels % d == 0)


def input_reach(conv: ConvSynapse, lo: int, hi: int) -> np.ndarray:
    """bool [n_in]: the inputs with a non-zero tap onto an output neuron in [lo, hi).

    The transposed convolution of the slice's mask by the kernel's non-zero pattern: output
    (x', y', k) reads padded input (x' * sx + i * dx, y' * sy + j * dy) through the flipped tap
    (kx - 1 - i, ky - 1 - j), channel by channel of k's group. Only the slice's rows are read.
    """
    (sx, sy), (px, py), (dx, dy) = conv.stride, conv.padding, conv.dilation
    (kx, ky), (x_in, y_in, c_in) = conv.kernel, conv.input_shape
    _, y_out, c_out = conv.output_shape
    groups = conv.groups
    row = y_out * c_out
    first, last = lo // row, (hi - 1) // row + 1  # output rows x' the slice touches
    mask = np.zeros((last - first) * row)
    mask[lo - first * row : hi - first * row] = 1
    mask = mask.reshape(last - first, y_out, groups, c_out // groups)
    nonzero = (conv.weights != 0).astype(np.float64)
    nonzero = nonzero.reshape(groups, c_out // groups, kx, ky, c_in // groups)
    padded = np.zeros((x_in + 2 * px, y_in + 2 * py, groups, c_in // groups))
    for i in range(kx):
        for j in range(ky):
            tap = np.einsum("xygk,gkc->xygc", mask, nonzero[:, :, kx - 1 - i, ky - 1 - j])
            x0, y0 = first * sx + i * dx, j * dy
            padded[x0 : x0 + sx * (last - first - 1) + 1 : sx,
                   y0 : y0 + sy * (y_out - 1) + 1 : sy] += tap  # fmt: skip
    return padded[px : px + x_in, py : py + y_in].reshape(-1) > 0
