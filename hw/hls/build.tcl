# Vitis HLS: synthesize one compiled partition's HLS LIF core and export it as Vivado IP.
#
# Run in the partition's hls/ folder (B/<partition>/hls/, written by `snapdeploy compile`):
#   vitis_hls -f <repository>/hw/hls/build.tcl
# Produces lif_prj/sol/syn/report/lif_core_csynth.rpt (latency, resources), the generated
# driver header lif_prj/sol/impl/ip/drivers/lif_core_v1_0/src/xlif_core_hw.h (the register
# map: compare it with snapdeploy/backends/fpga/regmap.py) and the IP catalog folder
# lif_prj/sol/impl/ip/ (VLNV snapdeploy:hls:lif_core:1.0) that vivado.tcl builds a PYNQ
# bitstream from. SNAP_PART and SNAP_CLOCK_MHZ override the PYNQ-Z2 target's part and clock.
# Written for Vitis HLS 2022.1 or later; not run by the project (its machines have no licence).

set part xc7z020clg400-1
if {[info exists ::env(SNAP_PART)]} { set part $::env(SNAP_PART) }
set clock_mhz 100.0
if {[info exists ::env(SNAP_CLOCK_MHZ)]} { set clock_mhz $::env(SNAP_CLOCK_MHZ) }

open_project -reset lif_prj
set_top lif_core
add_files lif_core.cpp
add_files lif_core.h
add_files lif_params.h
add_files -tb lif_csim.cpp
open_solution -reset sol -flow_target vivado
set_part $part
create_clock -period [expr {1000.0 / $clock_mhz}] -name default
csynth_design
export_design -format ip_catalog -vendor snapdeploy -library hls -ipname lif_core -version 1.0
exit
