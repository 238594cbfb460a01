# Vivado: a PYNQ overlay around the LIF core exported by build.tcl, up to its bitstream.
#
# Run in the same hls/ folder, after build.tcl:
#   vivado -mode batch -source <repository>/hw/hls/vivado.tcl
# Block design `lif`: the Zynq-7000 PS (DDR and fixed IO external, FCLK0 at the clock), the
# core as `lif_core_0` with s_axi_control on M_AXI_GP0 (the address editor puts it at
# 0x43C0_0000) and its four m_axi_gmem ports on S_AXI_HP0 through an interconnect.
# Produces lif.bit and lif.hwh in this folder: copy both into
# snapdeploy/backends/fpga/bitstreams/ and add their manifest entry (hw/README.md).
# Written for Vivado 2022.1 or later; not run by the project (its machines have no licence).

set part xc7z020clg400-1
if {[info exists ::env(SNAP_PART)]} { set part $::env(SNAP_PART) }
set clock_mhz 100.0
if {[info exists ::env(SNAP_CLOCK_MHZ)]} { set clock_mhz $::env(SNAP_CLOCK_MHZ) }

create_project -force lif_pynq lif_pynq -part $part
set_property ip_repo_paths [file normalize lif_prj/sol/impl/ip] [current_project]
update_ip_catalog

create_bd_design lif
set ps [create_bd_cell -type ip -vlnv xilinx.com:ip:processing_system7:5.5 ps7]
apply_bd_automation -rule xilinx.com:bd_rule:processing_system7 \
    -config {make_external "FIXED_IO, DDR" apply_board_preset "0"} $ps
set_property -dict [list CONFIG.PCW_USE_S_AXI_HP0 {1} \
    CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ $clock_mhz] $ps
create_bd_cell -type ip -vlnv snapdeploy:hls:lif_core:1.0 lif_core_0
apply_bd_automation -rule xilinx.com:bd_rule:axi4 \
    -config {Master "/ps7/M_AXI_GP0" Clk "Auto"} [get_bd_intf_pins lif_core_0/s_axi_control]
foreach port {m_axi_gmem0 m_axi_gmem1 m_axi_gmem2 m_axi_gmem3} {
    apply_bd_automation -rule xilinx.com:bd_rule:axi4 \
        -config {Slave "/ps7/S_AXI_HP0" Clk "Auto"} [get_bd_intf_pins lif_core_0/$port]
}
assign_bd_address
validate_bd_design
save_bd_design

make_wrapper -files [get_files lif.bd] -top -import
launch_runs impl_1 -to_step write_bitstream -jobs 4
wait_on_run impl_1
file copy -force lif_pynq/lif_pynq.runs/impl_1/lif_wrapper.bit lif.bit
file copy -force lif_pynq/lif_pynq.gen/sources_1/bd/lif/hw_handoff/lif.hwh lif.hwh
exit
