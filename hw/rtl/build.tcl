# Vivado: package the RTL LIF core's Zynq top as IP and build a PYNQ-Z2 overlay around it.
#
# Run in a compiled partition's rtl/ folder (B/<partition>/rtl/), which holds the filled
# lif_params.vh, the $readmemh power-on files (*.hex) and copies of the core's Verilog; the
# Zynq top's two files are there when the partition was compiled for an xc7z020 rtl device,
# or after `snapdeploy synth B --part xc7z020 --board`:
#   vivado -mode batch -source <repository>/hw/rtl/build.tcl
# 1. Packages lif_zynq_top (lif_zynq_top.v, lif_axi4_master.v, lif_core.v) as the IP
#    snapdeploy:rtl:lif_zynq_top:1.0 in lif_ip/: Vivado infers s_axi_control (AXI-Lite
#    slave), m_axi_gmem (AXI4 master), ap_clk, ap_rst_n and interrupt from the port names.
# 2. Builds the block design `lif`: the Zynq-7000 PS (DDR and fixed IO external, FCLK0 at the
#    clock), the IP as lif_core_0 with s_axi_control on M_AXI_GP0 (the address editor puts it
#    at 0x43C0_0000), m_axi_gmem on S_AXI_HP0 (64-bit) through an interconnect, the
#    interrupt on IRQ_F2P; implements it to a bitstream.
# Produces lif.bit and lif.hwh in this folder: copy both into
# snapdeploy/backends/fpga/bitstreams/ and add their manifest entry (hw/README.md).
# SNAP_PART and SNAP_CLOCK_MHZ override the PYNQ-Z2's part and the 100 MHz clock.
# Written for Vivado 2022.1 or later; not run by the project (its machines have no Vivado).

set part xc7z020clg400-1
if {[info exists ::env(SNAP_PART)]} { set part $::env(SNAP_PART) }
set clock_mhz 100.0
if {[info exists ::env(SNAP_CLOCK_MHZ)]} { set clock_mhz $::env(SNAP_CLOCK_MHZ) }

set top lif_zynq_top
set sources {lif_zynq_top.v lif_axi4_master.v lif_core.v}
set header lif_params.vh
foreach file [concat $sources [list $header]] {
    if {![file exists $file]} {
        error "$file is missing here: run this in a compiled partition's rtl/ folder, after\
            `snapdeploy synth <build> --part xc7z020 --board` copied the Zynq top into it"
    }
}

# 1. The IP
create_project -force lif_ip_prj lif_ip_prj -part $part
add_files -norecurse [concat $sources [list $header] [glob *.hex]]
set_property file_type {Verilog Header} [get_files $header]
set_property file_type {Memory Initialization Files} [get_files *.hex]
set_property top $top [current_fileset]
update_compile_order -fileset sources_1
ipx::package_project -root_dir lif_ip -vendor snapdeploy -library rtl -taxonomy /UserIP \
    -import_files -set_current true
set core [ipx::current_core]
set_property name $top $core
set_property version 1.0 $core
set_property display_name "snapdeploy RTL LIF core (Zynq top)" $core
ipx::associate_bus_interfaces -busif s_axi_control -clock ap_clk $core
ipx::associate_bus_interfaces -busif m_axi_gmem -clock ap_clk $core
ipx::create_xgui_files $core
ipx::update_checksums $core
ipx::check_integrity $core
ipx::save_core $core
close_project

# 2. The overlay
create_project -force lif_pynq lif_pynq -part $part
set_property ip_repo_paths [file normalize lif_ip] [current_project]
update_ip_catalog

create_bd_design lif
set ps [create_bd_cell -type ip -vlnv xilinx.com:ip:processing_system7:5.5 ps7]
apply_bd_automation -rule xilinx.com:bd_rule:processing_system7 \
    -config {make_external "FIXED_IO, DDR" apply_board_preset "0"} $ps
set_property -dict [list CONFIG.PCW_USE_S_AXI_HP0 {1} CONFIG.PCW_S_AXI_HP0_DATA_WIDTH {64} \
    CONFIG.PCW_USE_FABRIC_INTERRUPT {1} CONFIG.PCW_IRQ_F2P_INTR {1} \
    CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ $clock_mhz] $ps
create_bd_cell -type ip -vlnv snapdeploy:rtl:lif_zynq_top:1.0 lif_core_0
apply_bd_automation -rule xilinx.com:bd_rule:axi4 \
    -config {Master "/ps7/M_AXI_GP0" Clk "Auto"} [get_bd_intf_pins lif_core_0/s_axi_control]
apply_bd_automation -rule xilinx.com:bd_rule:axi4 \
    -config {Slave "/ps7/S_AXI_HP0" Clk "Auto"} [get_bd_intf_pins lif_core_0/m_axi_gmem]
connect_bd_net [get_bd_pins lif_core_0/interrupt] [get_bd_pins ps7/IRQ_F2P]
assign_bd_address
validate_bd_design
save_bd_design

make_wrapper -files [get_files lif.bd] -top -import
launch_runs impl_1 -to_step write_bitstream -jobs 4
wait_on_run impl_1
file copy -force lif_pynq/lif_pynq.runs/impl_1/lif_wrapper.bit lif.bit
file copy -force lif_pynq/lif_pynq.gen/sources_1/bd/lif/hw_handoff/lif.hwh lif.hwh
exit
