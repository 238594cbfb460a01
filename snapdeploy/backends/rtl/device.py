"""The device spec of the `rtl` kind: the Verilog LIF core on one FPGA part."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Self

from snapdeploy.targets.schema import limit
from snapdeploy.targets.spec import DeviceSpec

#: Parts `snapdeploy synth` places and routes (or, for Xilinx, synthesizes only).
PARTS = ("xc7z020", "lfe5u-85f", "up5k")


@dataclass(frozen=True)
class RtlDevice(DeviceSpec):
    """One RTL LIF core on FPGA `part` of `board`, holding up to `neurons` neurons in all.

    It runs as its Verilator simulation; `snapdeploy synth` builds its bitstreams.
    """

    #: What the report's FPGA cost says of the cycles it prices (`backend.cycles_per_step`).
    cycles_source: ClassVar[str] = "cycles measured in the core's Verilator simulation"
    kind: str = field(default="rtl", init=False)
    part: str = limit(choices=PARTS)
    board: str = limit()
    neurons: int = limit(ge=1)
    weight_bits: int = limit(8, ge=1, le=16)
    clock_mhz: float = limit(100.0, gt=0)

    @classmethod
    def holding(cls, name: str, neurons: int) -> Self:
        """An ECP5-85F core (the ULX3S board's) with room for `neurons` neurons in all."""
        return cls(name=name, part="lfe5u-85f", board="ulx3s", neurons=neurons)
