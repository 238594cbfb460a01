"""Temporal-fused multi-step LIF: one kernel for all time steps, forward and backward.

`fused_lif` is `snapdeploy.nn.lif.lif_sequence` with the time loop inside a compiled kernel
(C++ with OpenMP on CPU, Triton on CUDA); `lif_sequence` and `LIF` use it by default.
"""

from snapdeploy.nn.fused.build import FusedLIFError
from snapdeploy.nn.fused.function import fused_lif, fused_supported

__all__ = ["FusedLIFError", "fused_lif", "fused_supported"]
