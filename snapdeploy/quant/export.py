"""Post-training export of a float `HybridNet` to the integer `ModelGraph`.

Spiking layers become Lava-form integers. One real scale `lam` per layer maps float units to
integer activation units (a_int ~= lam * W @ s, vth_int ~= lam * vth, bias in v units
~= 64 * lam * bias); it is chosen as large as the widths allow, so rounding costs least:
the threshold keeps half its 17-bit range, the current stays inside Lava's 24-bit wrap for the
largest input a neuron can receive, and the bias fits 13 bits << 7. The weight exponent is
then the largest that keeps every weight in [-256, 254]. Dense layers get symmetric
per-output-channel integer weights with a float scale. Nothing is clipped silently: a
parameter that cannot fit raises `ParameterRangeError` naming the layer and the fix.
(Brevitas QAT is a later stage; it ends in this same graph.)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from snapdeploy.core.conv import (
    CONV_WEIGHT_EXP_RANGE,
    ConvLayerParams,
    ConvSynapse,
    PoolSynapse,
)
from snapdeploy.core.errors import ParameterRangeError, UnsupportedLayerError
from snapdeploy.core.graph import (
    DecoderOp,
    DenseOp,
    EncoderOp,
    ModelGraph,
    Op,
    SpikeSourceOp,
    SpikingOp,
)
from snapdeploy.core.neuron import (
    ACT_SHIFT,
    DECAY_UNITY,
    DU_OFFSET,
    PARAM_RANGES,
    STATE_LIMIT,
    LifLayerParams,
    activation_extremes,
)
from snapdeploy.nn.boundary import SpikeDecoder, SpikeEncoder, SpikeSource
from snapdeploy.nn.hybrid import HybridNet, SpikingConv, SpikingLinear
from snapdeploy.nn.image_source import ImageSpikeSource

SUPPORTED_LAYERS = (
    "nn.Linear, nn.Conv2d, nn.ReLU, nn.Flatten, nn.MaxPool2d, nn.AvgPool2d, nn.Identity, "
    "nn.Dropout (dense blocks); SpikingLinear, SpikingConv (spiking blocks); SpikeEncoder, "
    "SpikeDecoder, SpikeBoundary (boundaries); SpikeSource (first, for spike input)"
)
VTH_TARGET = 1 << 16  # half of vth's 17-bit range: headroom for a trained threshold to grow
BIAS_LIMIT = PARAM_RANGES["bias_mant"][1] << PARAM_RANGES["bias_exp"][1]
SHRINK, MAX_SHRINKS = 0.99, 64


def lava_weight_step(weight_bits: int) -> int:
    """Lava's mixed-sign truncation keeps multiples of 2**(9 - bits) in [-256, 254]."""
    if not 2 <= weight_bits <= 8:
        raise ParameterRangeError(
            f"weight_bits={weight_bits} is outside Loihi's 2..8 bits; fix: choose 2 to 8"
        )
    return 1 << (9 - weight_bits)


#: What bounds a layer's scale, as said in an error when the threshold cannot survive it.
SCALE_BOUNDS = {
    "threshold": "the threshold's 17 bits",
    "current": "the 24-bit current at the largest input; fix: lower the weights or use a faster current decay du",
    "bias": "the 13-bit bias mantissa << 7; fix: lower the bias relative to the threshold",
}


def choose_scale(
    weight: np.ndarray,
    vth: float,
    bias: np.ndarray,
    du: float,
    w_max: int,
    exp_range: tuple[int, int] = PARAM_RANGES["weight_exp"],
) -> tuple[float, int, str]:
    """The largest float->integer scale the widths allow, its weight exponent (within
    `exp_range`), and its bound. `weight` has one row per neuron (or per conv channel)."""
    u_max = np.abs(weight).sum(axis=1).max(initial=0.0) / du
    limits = {"threshold": VTH_TARGET / vth}
    if u_max > 0:
        limits["current"] = (STATE_LIMIT - 1) / ((1 << ACT_SHIFT) * u_max)
    if np.abs(bias).max(initial=0.0) > 0:
        limits["bias"] = BIAS_LIMIT / ((1 << ACT_SHIFT) * np.abs(bias).max())
    bound = min(limits, key=limits.__getitem__)
    lam_target = limits[bound]
    w_abs = float(np.abs(weight).max(initial=0.0))
    if w_abs == 0.0:
        return lam_target, 0, bound
    low, high = exp_range
    weight_exp = int(np.clip(math.floor(math.log2(lam_target * w_abs / w_max)), low, high))
    # At the low clip the weights cannot use their full range without breaking a limit.
    return min(lam_target, w_max * 2.0**weight_exp / w_abs), weight_exp, bound


def current_fits(weights: np.ndarray, weight_exp: int, du_int: int) -> bool:
    """Whether every input pattern keeps u inside Lava's wrap (-2**23, 2**23].

    Decay rounds toward zero, so |u| never exceeds (a << 6) / d with d = (du + 1) / 4096.
    """
    most, least = activation_extremes(weights, weight_exp)
    gain = DECAY_UNITY / (du_int + DU_OFFSET)
    return (most << ACT_SHIFT) * gain <= STATE_LIMIT and -(
        (-least) << ACT_SHIFT
    ) * gain > -STATE_LIMIT


def fitting_weights(
    weight: np.ndarray, lam: float, weight_exp: int, step: int, du_int: int
) -> tuple[np.ndarray, float] | None:
    """The weights at scale `lam` (multiples of `step`), shrinking the scale a little at a
    time while rounding up pushes the worst-case current past Lava's wrap; None if
    MAX_SHRINKS shrinks do not bring it inside."""
    for _ in range(MAX_SHRINKS + 1):
        weights = (step * np.round(weight * lam / 2.0**weight_exp / step)).astype(np.int32)
        if current_fits(weights, weight_exp, du_int):
            return weights, lam
        lam *= SHRINK
    return None


def quantize_bias(layer: str, bias_v_units: np.ndarray) -> tuple[np.ndarray, int]:
    """Smallest bias exponent whose 13-bit mantissa holds the bias."""
    mant_low, mant_high = PARAM_RANGES["bias_mant"]
    exp_low, exp_high = PARAM_RANGES["bias_exp"]
    for bias_exp in range(exp_low, exp_high + 1):
        mant = np.round(bias_v_units / 2.0**bias_exp).astype(np.int64)
        if mant.min(initial=0) >= mant_low and mant.max(initial=0) <= mant_high:
            return mant, bias_exp
    raise ParameterRangeError(
        f"layer '{layer}': bias needs {np.abs(bias_v_units).max():.0f} in voltage units but "
        f"13-bit mantissa << 7 holds at most {BIAS_LIMIT}; fix: lower the bias relative to "
        f"the threshold or retrain with a bias penalty"
    )


def quantize_neuron(
    layer: str,
    weight: np.ndarray,
    vth: float,
    bias: np.ndarray,
    du: float,
    dv: float,
    step: int,
    exp_range: tuple[int, int] = PARAM_RANGES["weight_exp"],
) -> tuple[np.ndarray, dict[str, Any]]:
    """Float synapse + LIF -> integer weights (multiples of `step` in [-256, 256 - step],
    one row per neuron or conv channel) and the neuron's fields (see the module docstring)."""
    if vth <= 0:
        raise ParameterRangeError(
            f"layer '{layer}': threshold {vth} must be positive; fix: retrain with vth > 0"
        )
    du_int = int(round(du * DECAY_UNITY)) - DU_OFFSET
    w_max = 256 - step
    lam, weight_exp, bound = choose_scale(weight, vth, bias, du, w_max, exp_range)
    fitted = fitting_weights(weight, lam, weight_exp, step, du_int)
    # Coarse weights (few bits) can round up past the current's bound by more than small
    # shrinks undo; a smaller exponent halves each weight's activation instead.
    while fitted is None and weight_exp > exp_range[0]:
        weight_exp -= 1
        lam = min(lam, w_max * 2.0**weight_exp / float(np.abs(weight).max()))
        fitted = fitting_weights(weight, lam, weight_exp, step, du_int)
    if fitted is None:
        raise ParameterRangeError(
            f"layer '{layer}': its largest input would wrap the 24-bit current; fix: lower "
            f"the weights or use a faster current decay du"
        )
    weights, lam = fitted
    vth_int = int(round(vth * lam))
    if vth_int < 1:
        raise ParameterRangeError(
            f"layer '{layer}': vth {vth} becomes {vth * lam:.3g} and would round to 0 at the "
            f"scale bounded by {SCALE_BOUNDS[bound]}"
        )
    bias_mant, bias_exp = quantize_bias(layer, bias * lam * (1 << ACT_SHIFT))
    fields = {"du": du_int, "dv": int(round(dv * DECAY_UNITY)), "vth": vth_int,
              "bias_mant": bias_mant.astype(np.int32), "bias_exp": bias_exp}  # fmt: skip
    return weights, {"weight_exp": weight_exp, **fields}


def quantize_spiking_layer(
    layer: str,
    weight: np.ndarray,
    vth: float,
    bias: np.ndarray,
    du: float,
    dv: float,
    weight_bits: int = 8,
    reset: str = "zero",
) -> LifLayerParams:
    """Float Dense synapse + LIF -> Lava-form integers (even weights at 8 bits)."""
    step = lava_weight_step(weight_bits)
    weights, fields = quantize_neuron(layer, weight, vth, bias, du, dv, step)
    params = LifLayerParams(weights=weights, reset=reset, **fields)
    params.validate(layer)
    return params


def quantize_conv_layer(name: str, module: SpikingConv, weight_bits: int = 8) -> ConvLayerParams:
    """A `SpikingConv` as Lava's Conv + LIF in integers: 8 bits of magnitude and a sign (Lava's
    Conv keeps odd weights), a left-shift exponent in [0, 7], the kernel flipped into Lava's
    [C_out, x, y, C_in / groups]. A sum pool (`is_pool`) is written as one (`PoolSynapse`),
    its one weight within 8 bits and a sign (a pool has no exponent)."""
    conv, lif = module.synapse, module.lif
    weight = _array(conv.weight)  # [C_out, C_in / groups, x, y], correlating
    bias = _array(lif.bias) if lif.bias is not None else np.zeros(lif.n)
    pool = is_pool(module)
    ints, fields = quantize_neuron(
        name, weight.reshape(len(weight), -1), lif.vth.item(), bias, lif.du, lif.dv,
        lava_weight_step(weight_bits) // 2, (0, 0) if pool else CONV_WEIGHT_EXP_RANGE,
    )  # fmt: skip
    weight_exp = fields.pop("weight_exp")
    if pool:
        synapse = PoolSynapse(conv.kernel_size, int(ints.flat[0]), module.input_shape)
    else:
        kernel = ints.reshape(weight.shape).transpose(0, 2, 3, 1)[:, ::-1, ::-1, :]
        synapse = ConvSynapse(
            np.ascontiguousarray(kernel), module.input_shape, conv.stride, conv.padding,
            conv.dilation, conv.groups, weight_exp,
        )  # fmt: skip
    params = ConvLayerParams(synapse, reset=lif.reset, **fields)
    params.validate(name)
    return params


def is_pool(module: SpikingConv) -> bool:
    """Whether the conv is slayer's sum pool: one weight in a depthwise kernel that strides
    by its own size over an input it tiles."""
    conv, (x, y, channels) = module.synapse, module.input_shape
    weight = conv.weight.detach()
    return (
        conv.groups == channels == conv.out_channels
        and bool(torch.all(weight == weight.flatten()[0]))
        and conv.stride == conv.kernel_size
        and conv.padding == (0, 0)
        and conv.dilation == (1, 1)
        and x % conv.kernel_size[0] == 0
        and y % conv.kernel_size[1] == 0
    )


def quantize_dense_weight(weight: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric per-output-channel integers and their float32 scales."""
    qmax = (1 << (bits - 1)) - 1
    flat = np.abs(weight.reshape(weight.shape[0], -1)).max(axis=1)
    scale = np.where(flat > 0, flat / qmax, 1.0).astype(np.float32)
    shape = (-1,) + (1,) * (weight.ndim - 1)
    ints = np.round(weight / scale.reshape(shape)).astype(np.int8 if bits <= 8 else np.int32)
    return ints, scale


def _array(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().astype(np.float64)


#: Settings the torch backend does not rebuild: (attribute, the default it supports).
UNSUPPORTED_SETTINGS: dict[type, tuple[tuple[str, Any], ...]] = {
    nn.Conv2d: (("padding_mode", "zeros"),),
    nn.MaxPool2d: (("ceil_mode", False), ("dilation", 1), ("return_indices", False)),
    nn.AvgPool2d: (("ceil_mode", False), ("count_include_pad", True), ("divisor_override", None)),
}


def refuse_settings(name: str, module: nn.Module) -> None:
    """Refuse layer settings export would drop, rather than deploy a different layer."""
    for attr, supported in UNSUPPORTED_SETTINGS.get(type(module), ()):
        if getattr(module, attr) != supported:
            raise UnsupportedLayerError(
                f"layer '{name}' ({type(module).__name__}) has {attr}={getattr(module, attr)!r}; "
                f"only {attr}={supported!r} is supported; fix: use the default"
            )
    if isinstance(module, nn.Conv2d) and isinstance(module.padding, str):
        raise UnsupportedLayerError(
            f"layer '{name}' (Conv2d) has padding={module.padding!r}; fix: give the padding "
            f"as numbers (e.g. kernel_size // 2 for 'same' with odd kernels)"
        )


def dense_op(name: str, module: nn.Module, dense_bits: int) -> DenseOp | None:
    """A dense module as a DenseOp; None for layers that vanish at inference."""
    if isinstance(module, (nn.Identity, nn.Dropout)):
        return None
    refuse_settings(name, module)
    if isinstance(module, (nn.Linear, nn.Conv2d)):
        ints, scale = quantize_dense_weight(_array(module.weight), dense_bits)
        tensors = {"weight": ints, "weight_scale": scale}
        if module.bias is not None:
            tensors["bias"] = _array(module.bias).astype(np.float32)
        if isinstance(module, nn.Linear):
            return DenseOp(name, "linear", {"bits": dense_bits}, tensors)
        attrs = {
            "bits": dense_bits,
            "stride": list(module.stride),
            "padding": list(module.padding),
            "dilation": list(module.dilation),
            "groups": module.groups,
        }
        return DenseOp(name, "conv2d", attrs, tensors)
    if isinstance(module, nn.ReLU):
        return DenseOp(name, "relu")
    if isinstance(module, nn.Flatten):
        return DenseOp(name, "flatten", {"start_dim": module.start_dim, "end_dim": module.end_dim})
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        attrs = {
            "kernel_size": module.kernel_size,
            "stride": module.stride,
            "padding": module.padding,
        }
        op = "maxpool2d" if isinstance(module, nn.MaxPool2d) else "avgpool2d"
        return DenseOp(name, op, attrs)
    raise UnsupportedLayerError(
        f"layer '{name}' is a {type(module).__name__}, which snapdeploy cannot export; "
        f"supported: {SUPPORTED_LAYERS}"
    )


def stage_op(name: str, module: nn.Module, weight_bits: int, dense_bits: int) -> Op | None:
    if isinstance(module, SpikingLinear):
        lif = module.lif
        bias = _array(lif.bias) if lif.bias is not None else np.zeros(lif.n)
        params = quantize_spiking_layer(
            name, _array(module.synapse.weight), lif.vth.item(), bias, lif.du, lif.dv,
            weight_bits, lif.reset,
        )  # fmt: skip
        return SpikingOp(name, params)
    if isinstance(module, SpikingConv):
        return SpikingOp(name, quantize_conv_layer(name, module, weight_bits))
    if isinstance(module, SpikeEncoder):
        image = getattr(module, "channels_first", None)  # an image encoder, or its QAT twin
        return EncoderOp(
            name, module.n, module.steps, module.threshold.item(), module.dv, channels_first=image
        )
    if isinstance(module, SpikeSource):
        image = module.channels_first if isinstance(module, ImageSpikeSource) else None
        return SpikeSourceOp(name, module.n, module.steps, image)
    if isinstance(module, SpikeDecoder):
        return DecoderOp(name, module.n, _array(module.scale).astype(np.float32))
    return dense_op(name, module, dense_bits)


def export_model(model: HybridNet, weight_bits: int = 8, dense_bits: int = 8) -> ModelGraph:
    """The integer graph of a trained `HybridNet`, every parameter checked against its width."""
    if not isinstance(model, HybridNet):
        raise UnsupportedLayerError(
            f"export takes a snapdeploy HybridNet, got {type(model).__name__}; fix: wrap "
            f"your layers in HybridNet(DenseBlock(...), SpikeEncoder(...), ...)"
        )
    if not 2 <= dense_bits <= 16:
        raise ParameterRangeError(f"dense_bits={dense_bits} must lie in 2..16")
    names = {id(m): n for n, m in model.named_modules()}
    ops = [stage_op(names[id(stage)], stage, weight_bits, dense_bits) for stage in model.stages()]
    return ModelGraph(
        ops=tuple(op for op in ops if op is not None),
        input_shape=model.input_shape,
        steps=model.steps,
    )
