"""A run of NIR Conv2d and pooling nodes between two neuron layers as one spiking convolution.

NIR (like torch) holds images as (C, H, W) and correlates; our conv layers hold Lava's
(x, y, channel) and convolve. We take x = H and y = W, so a layer's spikes are the NIR image
in channels-last order, (H, W, C) flattened (`channels_last_order`), and NIR's kernel
[C_out, C_in / groups, H, W] is already the torch kernel `SpikingConv` holds (export flips it
into Lava's). The runs that become one conv, exactly:

- `Conv2d` alone (stride, padding, dilation, groups as they are);
- `SumPool2d` or `AvgPool2d` alone (no padding): a depthwise conv with a constant kernel, 1
  for a sum pool and 1/(kh kw) for an average: the average's divisor is folded into the
  kernel, which the neuron's gain then scales, so the integer layer is a sum pool whose one
  weight and threshold export rounds together (the ratio weight/threshold is what counts);
- `Conv2d` then a pool (no padding): one conv with the pool folded in. Pooling k2 with
  stride s2 after a conv of kernel k1, stride s1, dilation d1 sums the conv at k2 positions
  s1 apart, which is the conv with kernel `sum_j W shifted by j s1`, extent
  (k2 - 1) s1 + (k1 - 1) d1 + 1, stride s1 s2, dilation 1, the same padding and groups.

A Conv2d's bias is a constant current per output channel; the caller adds it to the
neuron's bias (as for Affine). Anything else (Conv1d, Scale, pools with padding, two convs
in a row) is not one conv, and the caller folds the run into a dense matrix instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import nir
import numpy as np

from snapdeploy.interop.neurons import as_array

POOLS = (nir.SumPool2d, nir.AvgPool2d)


@dataclass(frozen=True)
class ConvRun:
    """One conv in torch's correlating form over (C, x = H, y = W) images."""

    weight: np.ndarray  # float64 [C_out, C_in / groups, kx, ky]
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    groups: int


def pair(value) -> tuple[int, int]:
    """NIR's int-or-pair settings as an (H, W) pair."""
    array = np.asarray(as_array(value)).astype(int).reshape(-1)
    return (int(array[0]),) * 2 if array.size == 1 else (int(array[0]), int(array[1]))


def channels_last_order(shape: tuple[int, ...]) -> np.ndarray:
    """For each of our flat (H, W, C) indices, NIR's flat (C, H, W) index (identity for
    shapes that are not images)."""
    if len(shape) != 3:
        return np.arange(int(np.prod(shape)))
    return np.arange(int(np.prod(shape))).reshape(shape).transpose(1, 2, 0).reshape(-1)


def conv_of(node: nir.Conv2d) -> ConvRun:
    return ConvRun(
        as_array(node.weight), pair(node.stride), pair(node.padding), pair(node.dilation),
        int(node.groups),
    )  # fmt: skip


def pool_of(node: nir.SumPool2d | nir.AvgPool2d, channels: int) -> ConvRun:
    kernel = pair(node.kernel_size)
    value = 1.0 if isinstance(node, nir.SumPool2d) else 1.0 / (kernel[0] * kernel[1])
    return ConvRun(np.full((channels, 1, *kernel), value), pair(node.stride), (0, 0), (1, 1),
                   channels)  # fmt: skip


def then_pool(conv: ConvRun, pool: nir.SumPool2d | nir.AvgPool2d) -> ConvRun:
    """`conv` followed by `pool` (no padding) as one conv (see the module docstring)."""
    k2, s2 = pair(pool.kernel_size), pair(pool.stride)
    factor = 1.0 if isinstance(pool, nir.SumPool2d) else 1.0 / (k2[0] * k2[1])
    k1 = conv.weight.shape[2:]
    extent = [(k2[a] - 1) * conv.stride[a] + (k1[a] - 1) * conv.dilation[a] + 1 for a in (0, 1)]
    weight = np.zeros((*conv.weight.shape[:2], *extent))
    taps = [conv.dilation[a] * np.arange(k1[a]) for a in (0, 1)]
    for j in range(k2[0]):
        for k in range(k2[1]):
            rows = j * conv.stride[0] + taps[0]
            cols = k * conv.stride[1] + taps[1]
            weight[:, :, rows[:, None], cols[None, :]] += conv.weight * factor
    stride = (conv.stride[0] * s2[0], conv.stride[1] * s2[1])
    return ConvRun(weight, stride, conv.padding, (1, 1), conv.groups)


def conv_run(nodes: list[nir.NIRNode], in_shape: tuple[int, ...]) -> ConvRun | str:
    """The run as one conv over a (C, H, W) input, or why it is not one."""
    if len(in_shape) != 3:
        return f"its input has shape {in_shape}, not an image (C, H, W)"
    kinds = " -> ".join(type(n).__name__ for n in nodes)
    if any(isinstance(n, nir.Conv2d) and isinstance(n.padding, str) for n in nodes):
        return "a Conv2d gives its padding as a string"
    if any(isinstance(n, POOLS) and pair(n.padding) != (0, 0) for n in nodes):
        return "a pool pads its input"
    if len(nodes) == 1 and isinstance(nodes[0], nir.Conv2d):
        return conv_of(nodes[0])
    if len(nodes) == 1 and isinstance(nodes[0], POOLS):
        return pool_of(nodes[0], in_shape[0])
    if len(nodes) == 2 and isinstance(nodes[0], nir.Conv2d) and isinstance(nodes[1], POOLS):
        return then_pool(conv_of(nodes[0]), nodes[1])
    return f"its nodes ({kinds}) are not one Conv2d, one pool, or a Conv2d then a pool"
