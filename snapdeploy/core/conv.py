"""Spiking convolution and sum pooling: the synapses of Lava 0.10's `Conv` in `fixed_pt`.

Lava's `PyConvModelFixed` (`lava/proc/conv/models.py`) holds images in its (x, y, channel)
layout, flattened in C order (index ``(x * Y + y) * C + c``), and kernels as
``[C_out, kx, ky, C_in / groups]``. Per step it sends the activation it computed on the
*previous* step, as Dense does, and computes::

    a = signed_wrap24( conv(s, W) )    # a true convolution: the kernel is flipped
    conv(s, W)[x', y', k] = sum_{i, j, c} s_pad[x' * sx + i * dx, y' * sy + j * dy, g * Cg + c]
                                          * W[k, kx - 1 - i, ky - 1 - j, c]

with ``s_pad`` the input zero-padded by (px, py) on both sides, ``g = k // (C_out / groups)``
and ``signed_wrap24`` Lava's `signed_clamp(x, 24)`: a modulo into signed 24 bits, not a
saturation. Lava's fixed-point Conv does not apply `weight_exp` and does not normalize its
weights (odd values stay odd): we accept exponents in [0, 7] as the left shift the Process
documents (effective weight ``W << weight_exp``; the Lava backend passes that kernel), and no
negative one, which Lava's Conv cannot express.

Sum pooling is lava-dl slayer's `Pool` synapse: one integer weight over every window of one
channel, stride equal to the kernel. Here it is a depthwise `ConvSynapse` with a constant
kernel, so every backend that runs convolution runs pooling the same way.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from snapdeploy.core import conv_native
from snapdeploy.core.errors import ParameterRangeError
from snapdeploy.core.neuron import reset_kinds, validate_neuron

#: Lava's Conv wraps each activation into this many signed bits (`utils.signed_clamp`).
CONV_ACTIVATION_BITS = 24
#: Lava's Conv computes in int32: a sum beyond it would be undefined before the wrap.
CONV_SUM_LIMIT = 1 << 31
#: Conv weights as Lava's Conv keeps them: 8 bits of magnitude and a sign, not normalized.
CONV_WEIGHT_RANGE = (-256, 255)
CONV_WEIGHT_EXP_RANGE = (0, 7)
#: Window values im2col holds at once (float64): 4M values, 32 MiB.
PATCH_BLOCK = 1 << 22


def signed_wrap(x: np.ndarray, bits: int) -> np.ndarray:
    """Lava's `signed_clamp`: x modulo 2**bits, as a signed value (values in range, as
    nearly all are, pass unchanged without the modulo's pass)."""
    half = 1 << (bits - 1)
    if x.size == 0 or (x.min() >= -half and x.max() < half):
        return x
    return (x + half) % (2 * half) - half


def pair(value: int | tuple[int, int] | list[int], what: str, layer: str) -> tuple[int, int]:
    """An (x, y) pair from one int or two, as Lava's `make_tuple` reads them."""
    values = (value, value) if np.isscalar(value) else tuple(value)
    if len(values) != 2 or any(int(v) != v for v in values):
        raise ParameterRangeError(
            f"layer '{layer}': {what} must be an int or an (x, y) pair, got {value!r}"
        )
    return int(values[0]), int(values[1])


def output_size(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """Lava's `utils.output_shape` along one axis."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


@dataclass(frozen=True)
class ConvSynapse:
    """Lava's Conv: `weights` [C_out, kx, ky, C_in / groups] over an (X, Y, C_in) input."""

    weights: np.ndarray
    input_shape: tuple[int, int, int]
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    weight_exp: int = 0

    @property
    def kernel(self) -> tuple[int, int]:
        return int(self.weights.shape[1]), int(self.weights.shape[2])

    @property
    def output_shape(self) -> tuple[int, int, int]:
        xy = [
            output_size(self.input_shape[a], self.kernel[a], self.stride[a], self.padding[a],
                        self.dilation[a])
            for a in (0, 1)
        ]  # fmt: skip
        return xy[0], xy[1], int(self.weights.shape[0])

    @property
    def largest_sum(self) -> int:
        """The largest |sum| one output can reach before `weight_exp` shifts it."""
        weights = np.abs(self.weights.astype(np.int64)).reshape(len(self.weights), -1)
        return int(weights.sum(1).max(initial=0))

    @property
    def conv(self) -> ConvSynapse:
        """The convolution this synapse is: itself (a sum pool's is a depthwise one)."""
        return self

    @property
    def n_in(self) -> int:
        return int(np.prod(self.input_shape))

    @property
    def n_out(self) -> int:
        return int(np.prod(self.output_shape))

    @property
    def fan_in(self) -> int:
        """Inputs one output neuron's window holds (kernel taps times input channels per group)."""
        return int(np.prod(self.weights.shape[1:]))

    @property
    def synapses(self) -> int:
        """(input, output neuron) pairs joined by a non-zero tap, padding left out."""
        taps = dataclasses.replace(self, weights=(self.weights != 0).astype(np.int64), weight_exp=0)
        return int(taps.sums(np.ones(self.n_in, dtype=bool)).sum())

    def validate(self, layer: str) -> None:
        """Refuse what Lava's Conv cannot run, naming the layer, the value and the fix."""
        if self.weights.ndim != 4 or len(self.input_shape) != 3:
            raise ParameterRangeError(
                f"layer '{layer}': a conv needs weights [C_out, kx, ky, C_in / groups] and an "
                f"(x, y, channel) input shape, got weights {self.weights.shape} and input "
                f"{self.input_shape}; fix: give both in Lava's (x, y, channel) layout"
            )
        c_in, c_out, groups = self.input_shape[2], self.weights.shape[0], self.groups
        if groups < 1 or c_in % groups or c_out % groups:
            raise ParameterRangeError(
                f"layer '{layer}': groups={groups} must divide both {c_in} input and {c_out} "
                f"output channels; fix: choose groups dividing both"
            )
        if self.weights.shape[3] != c_in // groups:
            raise ParameterRangeError(
                f"layer '{layer}': the kernel takes {self.weights.shape[3]} input channels per "
                f"group but the input has {c_in} / groups={groups} = {c_in // groups}; fix: make "
                f"the kernel's last axis C_in / groups"
            )
        for what, values, least in (("stride", self.stride, 1), ("dilation", self.dilation, 1),
                                    ("padding", self.padding, 0)):  # fmt: skip
            if min(values) < least:
                raise ParameterRangeError(
                    f"layer '{layer}': {what} {values} must be at least {least} on both axes"
                )
        if min(self.output_shape[:2]) < 1 or min(self.kernel) < 1:
            raise ParameterRangeError(
                f"layer '{layer}': a {self.kernel} kernel (dilation {self.dilation}) over a "
                f"{self.input_shape[:2]} input padded by {self.padding} leaves no output; fix: "
                f"pad more or use a smaller kernel"
            )
        self.check_widths(layer)

    def check_widths(self, layer: str) -> None:
        for name, (low, high), values in (
            ("weights", CONV_WEIGHT_RANGE, self.weights),
            ("weight_exp", CONV_WEIGHT_EXP_RANGE, self.weight_exp),
        ):
            seen = np.asarray(values)
            if seen.size and (seen.min() < low or seen.max() > high):
                raise ParameterRangeError(
                    f"layer '{layer}': conv {name} span [{seen.min()}, {seen.max()}] but Lava's "
                    f"Conv holds [{low}, {high}]; fix: quantize the kernel to 8 bits and a sign "
                    f"with a non-negative exponent (Lava's Conv has no right shift)"
                )
        most = self.largest_sum
        if most << self.weight_exp >= CONV_SUM_LIMIT:
            raise ParameterRangeError(
                f"layer '{layer}': a conv sum can reach {most << self.weight_exp}, beyond Lava's "
                f"int32 ({CONV_SUM_LIMIT}); fix: lower weight_exp or split the channels"
            )

    def sums(self, spikes: np.ndarray) -> np.ndarray:
        """conv(s, W << weight_exp) before the wrap: int64 [..., n_out] from [..., n_in].

        im2col: each output position's window, every kernel offset side by side, times the
        flipped kernel (Lava convolves), one matrix product per group over a block of images
        (float64, so numpy hands it to BLAS; exact, as every sum is an integer below 2**31).
        """
        lead = spikes.shape[:-1]
        images = spikes.reshape(-1, *self.input_shape)
        per_image = int(np.prod(self.output_shape[:2])) * self.fan_in
        block = max(1, PATCH_BLOCK // per_image)
        out = [self.block_sums(images[b : b + block]) for b in range(0, len(images), block)]
        out = np.concatenate(out) if out else np.zeros((0, self.n_out), dtype=np.int64)
        return np.left_shift(out, self.weight_exp).reshape(*lead, -1)

    def block_sums(self, images: np.ndarray) -> np.ndarray:
        """The unshifted sums of a block of images [b, X, Y, C_in]: int64 [b, n_out]."""
        (sx, sy), (px, py), (dx, dy) = self.stride, self.padding, self.dilation
        (kx, ky), (xo, yo, c_out) = self.kernel, self.output_shape
        groups, c_group = self.groups, self.input_shape[2] // self.groups
        padded = np.pad(images.astype(np.float64), ((0, 0), (px, px), (py, py), (0, 0)))
        windows = [
            padded[:, i * dx : i * dx + sx * (xo - 1) + 1 : sx,
                   j * dy : j * dy + sy * (yo - 1) + 1 : sy]
            for i in range(kx) for j in range(ky)
        ]  # fmt: skip
        # [positions, offsets, groups, C_in/g] and the kernel as [groups, offsets * C_in/g, C_out/g]
        patches = np.stack(windows, axis=3).reshape(-1, kx * ky, groups, c_group)
        kernel = self.weights[:, ::-1, ::-1, :].astype(np.float64)
        kernel = kernel.reshape(groups, c_out // groups, kx * ky * c_group).transpose(0, 2, 1)
        out = np.concatenate(
            [patches[:, :, g].reshape(len(patches), -1) @ kernel[g] for g in range(groups)],
            axis=1,
        )  # channel k of the output is group k // (C_out/g)
        return out.astype(np.int64).reshape(len(images), xo * yo * c_out)

    def activation(self, spikes: np.ndarray) -> np.ndarray:
        """What Lava's Conv sends for bool spikes [..., n_in]: int64 [..., n_out]."""
        return signed_wrap(self.sums(spikes), CONV_ACTIVATION_BITS)

    def activation_fn(self, native: bool) -> Callable[[np.ndarray], np.ndarray]:
        """`activation`, computed by the compiled scatter where `native` asks and it builds."""
        if not (native and conv_native.available()):
            return self.activation
        compiled = conv_native.NativeConv(self)
        return lambda spikes: signed_wrap(compiled.sums(spikes), CONV_ACTIVATION_BITS)


@dataclass(frozen=True)
class PoolSynapse:
    """slayer's sum `Pool`: one integer `weight` over each `kernel`-sized window of a channel.

    It runs as the depthwise conv it is (`conv`). slayer pools channels stacked along one
    axis, which stays per channel only when the stride is the kernel and the kernel tiles the
    image; `validate` refuses anything else.
    """

    kernel: tuple[int, int]
    weight: int
    input_shape: tuple[int, int, int]

    @cached_property
    def conv(self) -> ConvSynapse:
        """The depthwise conv this pool is, built once."""
        channels = self.input_shape[2]
        return ConvSynapse(
            weights=np.full((channels, *self.kernel, 1), self.weight, dtype=np.int64),
            input_shape=self.input_shape,
            stride=self.kernel,
            groups=channels,
        )

    @property
    def output_shape(self) -> tuple[int, int, int]:
        return self.conv.output_shape

    @property
    def n_in(self) -> int:
        return self.conv.n_in

    @property
    def n_out(self) -> int:
        return self.conv.n_out

    @property
    def synapses(self) -> int:
        return self.conv.synapses if self.weight else 0

    def validate(self, layer: str) -> None:
        (x, y, _), (kx, ky) = self.input_shape, self.kernel
        if min(kx, ky) < 1 or x % kx or y % ky:
            raise ParameterRangeError(
                f"layer '{layer}': a {self.kernel} sum pool must tile its ({x}, {y}) input "
                f"(slayer's Pool pads by the remainder and then mixes channels); fix: crop or "
                f"pad the input to a multiple of the kernel"
            )
        self.conv.validate(layer)

    def activation(self, spikes: np.ndarray) -> np.ndarray:
        return self.conv.activation(spikes)

    def activation_fn(self, native: bool) -> Callable[[np.ndarray], np.ndarray]:
        return self.conv.activation_fn(native)


@dataclass(frozen=True)
class ConvLayerParams:
    """A Conv or sum-pool synapse feeding a LIF population (the neuron of `core.neuron`).

    `bias_mant` has one value per output neuron, in the synapse's (x, y, channel) order.
    """

    synapse: ConvSynapse | PoolSynapse
    du: int
    dv: int
    vth: int
    bias_mant: np.ndarray  # int [n_out]
    bias_exp: int
    reset: str = "zero"

    @property
    def kinds(self) -> frozenset[str]:
        """The layer kinds a backend must support to run this layer."""
        synapse = "pool" if isinstance(self.synapse, PoolSynapse) else "conv"
        return frozenset({synapse}) | reset_kinds(self.reset)

    @property
    def n_in(self) -> int:
        return self.synapse.n_in

    @property
    def synapses(self) -> int:
        return self.synapse.synapses

    @property
    def n_out(self) -> int:
        return self.synapse.n_out

    def validate(self, layer: str) -> None:
        self.synapse.validate(layer)
        validate_neuron(layer, self)

    def activations(self, spikes: np.ndarray) -> np.ndarray:
        return self.synapse.activation(spikes)

    def activations_fn(self, native: bool) -> Callable[[np.ndarray], np.ndarray]:
        return self.synapse.activation_fn(native)

    def native_layer(self, bias: np.ndarray) -> conv_native.NativeConvLayer | None:
        """The layer compiled whole (`conv_native.NativeConvLayer`), where the kernel builds
        and holds its sums."""
        takes = conv_native.available() and conv_native.NativeConvLayer.takes(self.synapse.conv)
        return conv_native.NativeConvLayer(self, bias) if takes else None
