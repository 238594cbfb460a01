"""What every FPGA LIF core shares: the AXI-Lite register map, spike frames, the PYNQ-style
driver, the executor, the emulated overlay a simulation model plugs into, and the bitstream
manifest a board loads from. A core (hls, rtl) adds how it is built and simulated."""
