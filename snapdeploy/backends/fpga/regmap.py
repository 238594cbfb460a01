"""The LIF core's AXI-Lite register map: one table for the driver, the header and the emulator.

Vitis HLS lays an `s_axilite` block out in argument order: the ap_ctrl_hs control word and
interrupt registers at 0x00-0x0c, then each argument at the next free offset, a 64-bit
pointer (`m_axi ... offset=slave`) as two data words and one reserved word, a 32-bit scalar
as one data word and one reserved word. `lif_core`'s arguments are, in order, spikes_in,
spikes_out, state, params (pointers), steps, batch, load (scalars).
"""

from __future__ import annotations

CTRL = 0x00
GIE = 0x04
IER = 0x08
ISR = 0x0C
SPIKES_IN = 0x10
SPIKES_OUT = 0x1C
STATE = 0x28
PARAMS = 0x34
STEPS = 0x40
BATCH = 0x48
LOAD = 0x50
#: The address range of the core's AXI-Lite slave (what Vivado's address editor assigns).
RANGE = 0x10000

#: Read-only, after the map (not in `as_dict`: no HLS argument): the bus status of a core
#: behind an AXI4 master bridge (rtl/core/lif_zynq_top.v), and the byte address of its
#: first failure (low, high word). Cleared by ap_start; a core without the bridge reads 0.
BUS_STATUS = 0x58
BUS_ADDR = 0x5C
#: BUS_STATUS bits: a read or a write answered with an error (the first one's RRESP or
#: BRESP in bits 4:3), a request misaligned to its size.
BUS_READ_ERROR = 0x1
BUS_WRITE_ERROR = 0x2
BUS_MISALIGNED = 0x4
BUS_RESP_SHIFT = 3

#: ap_ctrl_hs bits of CTRL: start (host sets), done (clear on read), idle, ready.
AP_START = 0x1
AP_DONE = 0x2
AP_IDLE = 0x4
AP_READY = 0x8

POINTERS: dict[str, int] = {
    "spikes_in": SPIKES_IN,
    "spikes_out": SPIKES_OUT,
    "state": STATE,
    "params": PARAMS,
}
SCALARS: dict[str, int] = {"steps": STEPS, "batch": BATCH, "load": LOAD}


def as_dict() -> dict[str, int]:
    """The map as written into the parameter header and the bitstream manifest."""
    return {"ctrl": CTRL, **POINTERS, **SCALARS, "range": RANGE}
