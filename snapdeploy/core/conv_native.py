"""Lava's Conv compiled (`conv_int.cpp`): what `core.conv` specifies, event-driven.

`core.conv.ConvSynapse.sums` stays the readable specification (im2col, one BLAS product per
group); this kernel scatters each input spike's kernel slice instead, so its cost follows the
spikes, and it is bit-equal (tests/core/test_conv_native.py). `ConvSynapse.activation_fn`
hands it to the reference network where it builds.
"""

from __future__ import annotations

import ctypes
from functools import cache
from typing import TYPE_CHECKING

import numpy as np

from snapdeploy.core.errors import SnapdeployError
from snapdeploy.core.native import BASE_FLAGS, builds, load_library, pointer, threads
from snapdeploy.core.resources import package_path

if TYPE_CHECKING:
    from snapdeploy.core.conv import ConvSynapse

SOURCE = package_path("snapdeploy.core", "conv_int.cpp")


class NativeConvError(SnapdeployError):
    """The compiled convolution could not be built or loaded."""


@cache
def kernel() -> ctypes.CDLL:
    lib = load_library(
        SOURCE, BASE_FLAGS, NativeConvError, "use ReferenceNetwork(native=False) (numpy)"
    )
    ptr, i64 = ctypes.c_void_p, ctypes.c_int64
    lib.conv_int_sums.argtypes = [i64, ptr, i64, i64, i64, ptr, *[i64] * 12, ptr, ctypes.c_int]
    lib.conv_int_sums.restype = None
    return lib


@cache
def available() -> bool:
    """Whether the kernel builds here; if not, warn once with the reason and use numpy."""
    return builds(kernel, "conv layers run in numpy (slower)")


class NativeConv:
    """One conv synapse with its flipped kernel laid out once for the scatter."""

    def __init__(self, synapse: ConvSynapse):
        self.synapse = synapse
        groups, (kx, ky) = synapse.groups, synapse.kernel
        c_out, c_in = synapse.output_shape[2], synapse.input_shape[2]
        flipped = synapse.weights[:, ::-1, ::-1, :].reshape(
            groups, c_out // groups, kx, ky, c_in // groups
        )
        # [kx, ky, C_in, C_out / groups]: input channel g * C_in/g + c' meets group g's kernels
        self.layout = np.ascontiguousarray(
            flipped.transpose(2, 3, 0, 4, 1).reshape(kx, ky, c_in, c_out // groups),
            dtype=np.int32,
        )

    def sums(self, spikes: np.ndarray) -> np.ndarray:
        """`ConvSynapse.sums` compiled: int64 [..., n_out] from bool [..., n_in]."""
        syn = self.synapse
        lead = spikes.shape[:-1]
        images = np.ascontiguousarray(spikes, dtype=bool).reshape(-1, syn.n_in).view(np.uint8)
        out = np.empty((len(images), syn.n_out), dtype=np.int64)
        (x, y, c), (xo, yo, _) = syn.input_shape, syn.output_shape
        kernel().conv_int_sums(
            len(images), pointer(images), x, y, c, pointer(self.layout), *syn.kernel,
            c // syn.groups, self.layout.shape[3], *syn.stride, *syn.padding, *syn.dilation,
            xo, yo, pointer(out), threads(len(images), images.size),
        )  # fmt: skip
        return np.left_shift(out, syn.weight_exp).reshape(*lead, -1)
