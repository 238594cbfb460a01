"""Float LIF neuron with the integer neuron's structure, so export is a rounding.

    u[t] = u[t-1] * (1 - du) + a[t]
    v[t] = v[t-1] * (1 - dv) + u[t] + bias
    s[t] = v[t] > vth;  v[t] = 0 where s[t]   (reset="subtract": v[t] -= vth where s[t])

du and dv are fractions of 4096 in the integer neuron (Lava's current decay is du_int + 1,
so du here lies in [1/4096, 1]; dv in [0, 4095/4096]). Input and output are [T, batch, n].
Subtract reset is the integer neuron's (`v -= vth << 6` at the spike, before the next
step's decay); the fused kernel runs it on the CPU (on CUDA the step loop does).
"""

from __future__ import annotations

import torch
from torch import nn

from snapdeploy.core.errors import ParameterRangeError
from snapdeploy.nn.fused import fused_lif, fused_supported
from snapdeploy.nn.surrogate import spike

DECAY_UNITY = 4096
#: How a neuron resets on a spike, as the integer neuron's `RESETS`.
RESETS = ("zero", "subtract")


def check_reset(reset: str) -> None:
    if reset not in RESETS:
        raise ParameterRangeError(
            f"reset '{reset}' is not one of {', '.join(RESETS)}; fix: choose 'zero' (Lava's "
            f"LIF) or 'subtract' (snnTorch's default)"
        )


def check_decays(du: float, dv: float) -> None:
    """Refuse decays the integer neuron cannot hold, so export never has to clip them."""
    if not 1 / DECAY_UNITY <= du <= 1:
        raise ParameterRangeError(
            f"current decay du={du} must lie in [1/4096, 1] (Lava's du offset of 1 makes "
            f"1/4096 the least decay); fix: choose du in that range"
        )
    if not 0 <= dv <= (DECAY_UNITY - 1) / DECAY_UNITY:
        raise ParameterRangeError(
            f"voltage decay dv={dv} must lie in [0, 4095/4096]; fix: choose dv in that range"
        )


def lif_sequence(
    current: torch.Tensor,
    du: float,
    dv: float,
    vth: torch.Tensor,
    bias: torch.Tensor | float = 0.0,
    fused: bool = True,
    reset: str = "zero",
) -> torch.Tensor:
    """Run the LIF over the time axis of `current` [T, batch, n] from zero state; return spikes.

    With `fused` (and arguments the fused kernel takes) one kernel runs all steps with the
    same spikes and gradients; the step loop below is the readable reference it matches.
    """
    check_reset(reset)
    if fused and fused_supported(current, vth, bias, reset):
        return fused_lif(current, du, dv, vth, bias, reset=reset)
    u = torch.zeros_like(current[0])
    v = torch.zeros_like(current[0])
    out = []
    for a in current:
        u = u * (1.0 - du) + a
        v = v * (1.0 - dv) + u + bias
        s = spike(v - vth)
        v = v - s.detach() * vth if reset == "subtract" else v * (1.0 - s.detach())
        out.append(s)
    return torch.stack(out)


class LIF(nn.Module):
    """A population of `n` LIF neurons with a shared du, dv, vth and a bias per neuron;
    `reset` "zero" (Lava's LIF) or "subtract" (snnTorch's default)."""

    def __init__(
        self,
        n: int,
        du: float = 1.0,
        dv: float = 0.25,
        vth: float = 1.0,
        bias: bool = True,
        fused: bool = True,
        reset: str = "zero",
    ):
        super().__init__()
        check_decays(du, dv)
        check_reset(reset)
        self.n, self.du, self.dv, self.fused, self.reset = n, du, dv, fused, reset
        self.vth = nn.Parameter(torch.tensor(float(vth)))
        self.bias = nn.Parameter(torch.zeros(n)) if bias else None

    def forward(self, current: torch.Tensor) -> torch.Tensor:
        bias = self.bias if self.bias is not None else 0.0
        return lif_sequence(current, self.du, self.dv, self.vth, bias, self.fused, self.reset)

    def extra_repr(self) -> str:
        return (
            f"n={self.n}, du={self.du}, dv={self.dv}, vth={self.vth.item():.4g}, reset={self.reset}"
        )
