"""NIR's linear nodes as torch modules, and a run of them as one matrix.

Between two neuron layers every NIR node we accept is linear (Affine, Linear, Conv1d,
Conv2d, Flatten, SumPool2d, AvgPool2d, Scale), so the run is one affine map of the
flattened spikes: we evaluate it on the unit vectors (biases zeroed) to get the matrix of a
`SpikingLinear`, exactly what the chain computes. On the dense side the same modules are kept
one for one when `quant.export` can export them, so convolutions stay convolutions there.
"""

from __future__ import annotations

import copy
import math

import nir
import numpy as np
import torch
from torch import nn

from snapdeploy.core.errors import UnsupportedLayerError
from snapdeploy.interop.errors import UnsupportedNirNodeError
from snapdeploy.interop.neurons import as_array
from snapdeploy.quant.export import refuse_settings

LINEAR_NODES = (
    nir.Affine,
    nir.Linear,
    nir.Conv1d,
    nir.Conv2d,
    nir.Flatten,
    nir.SumPool2d,
    nir.AvgPool2d,
    nir.Scale,
)
#: Dense modules `quant.export` can export (with their default settings).
EXPORTABLE = (nn.Linear, nn.Conv2d, nn.Flatten, nn.AvgPool2d)


class Scale(nn.Module):
    """NIR's elementwise Scale; only ever folded into a matrix, never exported."""

    def __init__(self, scale: np.ndarray):
        super().__init__()
        self.register_buffer("scale", torch.from_numpy(scale).float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


def _tensor(value) -> torch.Tensor:
    return torch.from_numpy(as_array(value)).float()


def _pair(value) -> tuple[int, ...] | int | str:
    if isinstance(value, str):
        return value
    array = np.asarray(value).astype(int).reshape(-1)
    return int(array[0]) if array.size == 1 else tuple(int(v) for v in array)


def _loaded(module: nn.Module, weight, bias) -> nn.Module:
    with torch.no_grad():
        module.weight.copy_(_tensor(weight))
        if bias is not None:
            module.bias.copy_(_tensor(bias))
    return module


def _conv(node: nir.Conv1d | nir.Conv2d) -> nn.Module:
    """A convolution; an all-zero bias (exporters write one for bias-free layers) is dropped."""
    weight = as_array(node.weight)
    conv = nn.Conv1d if isinstance(node, nir.Conv1d) else nn.Conv2d
    bias = node.bias if node.bias is not None and np.any(as_array(node.bias)) else None
    module = conv(
        weight.shape[1] * int(node.groups),
        weight.shape[0],
        weight.shape[2:],
        stride=_pair(node.stride),
        padding=_pair(node.padding),
        dilation=_pair(node.dilation),
        groups=int(node.groups),
        bias=bias is not None,
    )
    return _loaded(module, weight, bias)


def torch_module(name: str, node: nir.NIRNode) -> nn.Module:
    """The torch module that computes a linear NIR node on [batch, ...] inputs."""
    if isinstance(node, (nir.Affine, nir.Linear)):
        weight = as_array(node.weight)
        if weight.ndim != 2:
            raise UnsupportedNirNodeError(
                f"NIR node '{name}': {weight.ndim}-D weight; fix: use a 2-D [out, in] weight"
            )
        bias = node.bias if isinstance(node, nir.Affine) else None
        module = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
        return _loaded(module, weight, bias)
    if isinstance(node, (nir.Conv1d, nir.Conv2d)):
        return _conv(node)
    if isinstance(node, nir.Flatten):
        # NIR counts dimensions without the batch; torch counts it.
        end = node.end_dim + 1 if node.end_dim >= 0 else node.end_dim
        return nn.Flatten(node.start_dim + 1, end)
    if isinstance(node, (nir.AvgPool2d, nir.SumPool2d)):
        kernel = _pair(node.kernel_size)
        divisor = 1 if isinstance(node, nir.SumPool2d) else None
        return nn.AvgPool2d(
            kernel, _pair(node.stride), _pair(node.padding), divisor_override=divisor
        )
    if isinstance(node, nir.Scale):
        return Scale(as_array(node.scale))
    raise TypeError(f"{type(node).__name__} is not a linear NIR node")


def exportable(module: nn.Module) -> bool:
    """Whether `quant.export` writes this module as it is (so the dense side keeps it)."""
    if not isinstance(module, EXPORTABLE):
        return False
    try:
        refuse_settings("probe", module)
    except UnsupportedLayerError:
        return False
    return True


def out_shape(modules: list[nn.Module], in_shape: tuple[int, ...]) -> tuple[int, ...]:
    with torch.no_grad():
        return tuple(nn.Sequential(*modules)(torch.zeros(1, *in_shape)).shape[1:])


def affine_of(
    modules: list[nn.Module], in_shape: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """The run as `y = W x + b` on flattened vectors (float64), and its output shape."""
    probe = nn.Sequential(*copy.deepcopy(modules)).double()
    n_in = math.prod(in_shape)
    offset = offset_of(probe, in_shape)
    with torch.no_grad():
        for module in probe.modules():
            if getattr(module, "bias", None) is not None:
                module.bias.zero_()
        basis = torch.eye(n_in, dtype=torch.float64).reshape(n_in, *in_shape)
        columns = probe(basis).reshape(n_in, -1)
    return columns.T.numpy(), offset.reshape(-1).numpy(), tuple(offset.shape[1:])


def offset_of(modules: nn.Module | list[nn.Module], in_shape: tuple[int, ...]) -> torch.Tensor:
    """The run's output for an all-zero input (its biases, as they reach the output): float64
    [1, *out_shape]."""
    probe = modules if isinstance(modules, nn.Module) else nn.Sequential(*modules)
    with torch.no_grad():
        return copy.deepcopy(probe).double()(torch.zeros(1, *in_shape, dtype=torch.float64))


def collapsed(weight: np.ndarray, bias: np.ndarray, in_shape: tuple[int, ...]) -> list[nn.Module]:
    """Dense modules computing `W x + b` on [batch, *in_shape] (a Flatten first if needed)."""
    linear = nn.Linear(weight.shape[1], weight.shape[0])
    _loaded(linear, weight, bias)
    return ([nn.Flatten()] if len(in_shape) > 1 else []) + [linear]
