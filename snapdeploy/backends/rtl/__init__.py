"""The RTL backend: a spiking partition as the Verilog LIF core in core/, simulated cycle by cycle
in Verilator behind the emulated PYNQ overlay, synthesized and placed with yosys and nextpnr.

Kept light: the registry imports `device` from here when it starts; the backend itself
(`backend.RtlBackend`) is imported on first use.
"""
