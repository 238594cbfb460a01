"""Lava's LIF with reset by subtraction: a Process and its `fixed_pt` ProcessModel of our own.

Lava 0.10 has no such neuron (its LIF sets v to 0 on a spike), while snnTorch's `Leaky`
subtracts the threshold by default. The model is Lava's own bit-accurate LIF
(`PyLifModelBitAcc`: the same decays, wrap, clip and strict threshold) with one change, its
`reset_voltage`: ``v[s] -= vth << 6``, as `core.neuron.lif_step` does with reset="subtract".
Lava finds the model because it sits in the Process's own module (see `neurons`).
"""

from __future__ import annotations

import numpy as np

from snapdeploy.core.extras import needs

with needs("lava", __name__):
    from lava.magma.core.decorator import implements, requires, tag
    from lava.magma.core.resources import CPU
    from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol
    from lava.proc.lif.models import PyLifModelBitAcc
    from lava.proc.lif.process import LIF


class SubtractLIF(LIF):
    """LIF whose voltage drops by its scaled threshold on a spike instead of to zero."""


@implements(proc=SubtractLIF, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PySubtractLifModelFixed(PyLifModelBitAcc):
    """Lava's bit-accurate LIF, resetting by subtraction."""

    # inherited from PyLifModelBitAcc, which implements LIF: Lava's @implements refuses to
    # re-point a model at another Process unless this is cleared first
    implements_process = None

    def reset_voltage(self, spike_vector: np.ndarray) -> None:
        self.v[spike_vector] -= self.effective_vth
