"""A spiking layer's QAT twin: a Brevitas synapse feeding Lava's integer LIF, emulated exactly.

The forward runs `core.neuron`'s fixed-point arithmetic on integer-valued float64 tensors
(every value stays below 2**53, so nothing is rounded by the float type), hence its spikes are
the integer reference's spike for spike. Rounding, truncation and clipping pass gradients
straight through (Brevitas' STE ops) and the spike takes the float LIF's surrogate on the
voltage brought back to float units, so fine-tuning sees the gradients of float training.

Integer scale: a Brevitas per-tensor weight scale `s` gives integer weights `q`; Lava holds them
as `q * step` with `step = 2**(9 - bits)` and shifts the sum by the weight exponent `e`, so a
float current `W @ x` is `lam * W @ x` in integer units with `lam = step * 2**e / s`. The
threshold, the bias (in voltage units, times 64) and the current scale by the same `lam`. `e`
is the largest in [-8, 7] that keeps the threshold in 17 bits, every input's current inside
Lava's 24-bit wrap and the bias in 13 bits << 7 (export's rule, with the threshold allowed its
full range since the scale is chosen afresh each step); it is chosen without gradient.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snapdeploy.core.errors import ParameterRangeError
from snapdeploy.core.extras import needs
from snapdeploy.core.neuron import (
    ACT_SHIFT,
    DECAY_UNITY,
    DU_OFFSET,
    PARAM_FIXES,
    PARAM_RANGES,
    STATE_LIMIT,
    V_MAX,
    VTH_SHIFT,
    LifLayerParams,
)
from snapdeploy.nn.hybrid import SpikingLinear
from snapdeploy.nn.surrogate import spike
from snapdeploy.quant.export import current_fits, lava_weight_step, quantize_bias

with needs("train", __name__):
    import torch
    from brevitas.function.ops_ste import round_ste, round_to_zero_ste
    from brevitas.nn import QuantLinear

VTH_MAX = PARAM_RANGES["vth"][1]
EXP_LOW, EXP_HIGH = PARAM_RANGES["weight_exp"]
BOUND_FIXES = {
    "threshold (17 bits)": PARAM_FIXES["vth"],
    "current (24 bits at the largest input)": "lower the weights or use a faster current decay du",
    "bias (13 bits << 7)": PARAM_FIXES["bias_mant"],
}


def weight_exponent(
    layer: str,
    weights: np.ndarray,
    scale: float,
    vth: float,
    bias: np.ndarray,
    du_int: int,
    step: int,
) -> int:
    """The largest weight exponent whose scale keeps every integer in its width."""
    bound = ""
    for exp in range(EXP_HIGH, EXP_LOW - 1, -1):
        lam = step * 2.0**exp / scale
        if round(vth * lam) > VTH_MAX:
            bound = "threshold (17 bits)"
        elif not current_fits(weights, exp, du_int):
            bound = "current (24 bits at the largest input)"
        else:
            try:
                quantize_bias(layer, bias * lam * (1 << ACT_SHIFT))
            except ParameterRangeError:
                bound = "bias (13 bits << 7)"
                continue
            return exp
    raise ParameterRangeError(
        f"layer '{layer}': even at weight_exp {EXP_LOW} its {bound} overflows; "
        f"fix: {BOUND_FIXES[bound]}"
    )


def shift_ste(x: torch.Tensor, exp: int) -> torch.Tensor:
    """Lava's `<< exp` (a flooring arithmetic `>> -exp` when negative), straight-through."""
    scaled = x * 2.0**exp
    return scaled if exp >= 0 else scaled + (torch.floor(scaled) - scaled).detach()


def decay_ste(x: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """`core.neuron.decay`: times (4096 - d) / 4096, rounded toward zero."""
    return round_to_zero_ste(x * (DECAY_UNITY - d) / DECAY_UNITY)


def wrap24(u: torch.Tensor) -> torch.Tensor:
    """Lava's one-step 24-bit correction of the current (see `core.neuron.wrap24`)."""
    u = torch.where(u > STATE_LIMIT, u - 2 * STATE_LIMIT, u)
    return torch.where(u <= -STATE_LIMIT, u + 2 * STATE_LIMIT, u)


@dataclass(frozen=True)
class IntegerLif:
    """One forward's integer parameters, as tensors that carry gradients to the float ones."""

    weights: torch.Tensor  # q * step, float64 [n_out, n_in]
    weight_exp: int
    lam: torch.Tensor  # float units -> integer activation units
    du: torch.Tensor  # Lava's du (its decay is du + 1)
    dv: torch.Tensor
    vth: torch.Tensor
    bias_mant: torch.Tensor  # float64 [n_out]
    bias_exp: int

    def params(self, layer: str) -> LifLayerParams:
        """The Lava-form integers, checked against their widths."""
        as_int = lambda t: int(t.detach().round().item())
        params = LifLayerParams(
            weights=self.weights.detach().numpy().astype(np.int32),
            weight_exp=self.weight_exp,
            du=as_int(self.du),
            dv=as_int(self.dv),
            vth=as_int(self.vth),
            bias_mant=self.bias_mant.detach().numpy().astype(np.int32),
            bias_exp=self.bias_exp,
        )
        params.validate(layer)
        return params


class QuantSpikingLinear(SpikingLinear):
    """A `SpikingLinear` whose synapse is a Brevitas `QuantLinear` and whose LIF is integer.

    du and dv become trainable here (fake-quantized to 12 bits); vth and the bias are the float
    LIF's parameters, fake-quantized through the layer's integer scale.
    """

    def __init__(self, source: SpikingLinear, weight_quant: type, bits: int, name: str):
        lif = source.lif
        super().__init__(source.synapse.in_features, lif.n, du=lif.du, dv=lif.dv)
        self.synapse = QuantLinear(
            source.synapse.in_features,
            lif.n,
            bias=False,
            weight_quant=weight_quant,
            weight_bit_width=bits,
        )
        with torch.no_grad():
            self.synapse.weight.copy_(source.synapse.weight)
        self.lif.load_state_dict(source.lif.state_dict())
        self.du = torch.nn.Parameter(torch.tensor(float(lif.du), dtype=torch.float64))
        self.dv = torch.nn.Parameter(torch.tensor(float(lif.dv), dtype=torch.float64))
        self.bits, self.name = bits, name

    def integer_lif(self) -> IntegerLif:
        """This step's integer parameters: the exact values export writes."""
        quant = self.synapse.quant_weight()
        scale = quant.scale.to(torch.float64).reshape(())
        step = lava_weight_step(self.bits)
        weights = round_ste(quant.value.to(torch.float64) / scale) * step
        du = torch.clamp(round_ste(self.du * DECAY_UNITY), 1, DECAY_UNITY) - DU_OFFSET
        dv = torch.clamp(round_ste(self.dv * DECAY_UNITY), 0, DECAY_UNITY - 1)
        vth = self.lif.vth.to(torch.float64)
        bias = self.lif.bias if self.lif.bias is not None else torch.zeros(self.lif.n)
        bias = bias.to(torch.float64)
        exp = weight_exponent(
            self.name,
            weights.detach().numpy(),
            scale.item(),
            vth.item(),
            bias.detach().numpy(),
            int(du.item()),
            step,
        )
        lam = step * 2.0**exp / scale
        bias_v = bias * lam * (1 << ACT_SHIFT)
        _, bias_exp = quantize_bias(self.name, bias_v.detach().numpy())
        return IntegerLif(
            weights=weights,
            weight_exp=exp,
            lam=lam,
            du=du,
            dv=dv,
            vth=torch.clamp(round_ste(vth * lam), 0, VTH_MAX),
            bias_mant=round_ste(bias_v / 2.0**bias_exp),
            bias_exp=bias_exp,
        )

    def forward(self, spikes: torch.Tensor) -> torch.Tensor:
        p = self.integer_lif()
        accum = spikes.to(torch.float64) @ p.weights.T
        current = shift_ste(accum, p.weight_exp)
        arrived = torch.cat([torch.zeros_like(current[:1]), current[:-1]])  # Dense's delay
        bias = p.bias_mant * 2.0**p.bias_exp
        threshold = p.vth * (1 << VTH_SHIFT)
        to_float = 1.0 / (p.lam * (1 << ACT_SHIFT))
        u = v = torch.zeros_like(arrived[0])
        out = []
        for a in arrived:
            u = wrap24(decay_ste(u, p.du + DU_OFFSET) + a * (1 << ACT_SHIFT))
            v = torch.clamp(decay_ste(v, p.dv) + u + bias, -V_MAX, V_MAX)
            s = spike((v - threshold) * to_float)
            v = v * (1.0 - s.detach())
            out.append(s)
        result = torch.stack(out).to(spikes.dtype)
        self.last_rate = result.mean()
        return result

    def extra_repr(self) -> str:
        return f"bits={self.bits}, du={self.du.item():.4g}, dv={self.dv.item():.4g}"
