// The LIF core as a Zynq IP: lif_core behind lif_axi4_master, with the ports named as Vitis
// HLS names its IP's (ap_clk, ap_rst_n, interrupt, s_axi_control_*, m_axi_gmem_*), so that
// Vivado's IP packager infers an AXI-Lite slave and an AXI4 master and a block design wires
// them as it wires the HLS core (hw/rtl/build.tcl): the control port on the PS's M_AXI_GP0,
// the memory port on S_AXI_HP0, the interrupt on IRQ_F2P. The PYNQ driver sees the register
// map of the core (backends/fpga/regmap.py) plus the bridge's bus status, read-only:
//
//   BUS_STATUS (0x58): bit 0 a read answered with an error, 1 a write answered with an
//       error, 2 a misaligned request; bits 4:3 the first error response (2 SLVERR,
//       3 DECERR); cleared by the next ap_start
//   BUS_ADDR (0x5c / 0x60): the byte address of the first failure, low / high word
`include "lif_params.vh"

module lif_zynq_top #(
    parameter integer C_S_AXI_CONTROL_ADDR_WIDTH = `SNAP_REG_ADDR_BITS
) (
    (* X_INTERFACE_INFO = "xilinx.com:signal:clock:1.0 ap_clk CLK" *)
    (* X_INTERFACE_PARAMETER = "ASSOCIATED_BUSIF s_axi_control:m_axi_gmem, ASSOCIATED_RESET ap_rst_n" *)
    input wire ap_clk,
    (* X_INTERFACE_INFO = "xilinx.com:signal:reset:1.0 ap_rst_n RST" *)
    (* X_INTERFACE_PARAMETER = "POLARITY ACTIVE_LOW" *)
    input wire ap_rst_n,
    (* X_INTERFACE_INFO = "xilinx.com:signal:interrupt:1.0 interrupt INTERRUPT" *)
    (* X_INTERFACE_PARAMETER = "SENSITIVITY LEVEL_HIGH" *)
    output wire interrupt,
    // AXI-Lite slave: the register map
    input wire [C_S_AXI_CONTROL_ADDR_WIDTH-1:0] s_axi_control_AWADDR,
    input wire s_axi_control_AWVALID,
    output wire s_axi_control_AWREADY,
    input wire [31:0] s_axi_control_WDATA,
    input wire [3:0] s_axi_control_WSTRB,
    input wire s_axi_control_WVALID,
    output wire s_axi_control_WREADY,
    output wire [1:0] s_axi_control_BRESP,
    output wire s_axi_control_BVALID,
    input wire s_axi_control_BREADY,
    input wire [C_S_AXI_CONTROL_ADDR_WIDTH-1:0] s_axi_control_ARADDR,
    input wire s_axi_control_ARVALID,
    output wire s_axi_control_ARREADY,
    output wire [31:0] s_axi_control_RDATA,
    output wire [1:0] s_axi_control_RRESP,
    output wire s_axi_control_RVALID,
    input wire s_axi_control_RREADY,
    // AXI4 master: spike frames, state and parameters in the PS's DDR
    output wire [0:0] m_axi_gmem_AWID,
    output wire [63:0] m_axi_gmem_AWADDR,
    output wire [7:0] m_axi_gmem_AWLEN,
    output wire [2:0] m_axi_gmem_AWSIZE,
    output wire [1:0] m_axi_gmem_AWBURST,
    output wire m_axi_gmem_AWLOCK,
    output wire [3:0] m_axi_gmem_AWCACHE,
    output wire [2:0] m_axi_gmem_AWPROT,
    output wire [3:0] m_axi_gmem_AWQOS,
    output wire [3:0] m_axi_gmem_AWREGION,
    output wire m_axi_gmem_AWVALID,
    input wire m_axi_gmem_AWREADY,
    output wire [63:0] m_axi_gmem_WDATA,
    output wire [7:0] m_axi_gmem_WSTRB,
    output wire m_axi_gmem_WLAST,
    output wire m_axi_gmem_WVALID,
    input wire m_axi_gmem_WREADY,
    input wire [0:0] m_axi_gmem_BID,
    input wire [1:0] m_axi_gmem_BRESP,
    input wire m_axi_gmem_BVALID,
    output wire m_axi_gmem_BREADY,
    output wire [0:0] m_axi_gmem_ARID,
    output wire [63:0] m_axi_gmem_ARADDR,
    output wire [7:0] m_axi_gmem_ARLEN,
    output wire [2:0] m_axi_gmem_ARSIZE,
    output wire [1:0] m_axi_gmem_ARBURST,
    output wire m_axi_gmem_ARLOCK,
    output wire [3:0] m_axi_gmem_ARCACHE,
    output wire [2:0] m_axi_gmem_ARPROT,
    output wire [3:0] m_axi_gmem_ARQOS,
    output wire [3:0] m_axi_gmem_ARREGION,
    output wire m_axi_gmem_ARVALID,
    input wire m_axi_gmem_ARREADY,
    input wire [0:0] m_axi_gmem_RID,
    input wire [63:0] m_axi_gmem_RDATA,
    input wire [1:0] m_axi_gmem_RRESP,
    input wire m_axi_gmem_RLAST,
    input wire m_axi_gmem_RVALID,
    output wire m_axi_gmem_RREADY
);
  localparam [C_S_AXI_CONTROL_ADDR_WIDTH-1:0] REG_CTRL = `SNAP_REG_CTRL;
  localparam [C_S_AXI_CONTROL_ADDR_WIDTH-1:0] REG_BUS_STATUS = 'h58;
  localparam [C_S_AXI_CONTROL_ADDR_WIDTH-1:0] REG_BUS_ADDR = 'h5c;

  wire m_valid, m_ready, m_write, m_wide, m_rvalid;
  wire [63:0] m_addr, m_wdata, m_rdata;
  wire [4:0] bus_status;
  wire [63:0] bus_addr;
  wire [31:0] core_rdata;

  // The core's AXI-Lite handshakes, seen from outside: a write is taken in the cycle its
  // AWREADY is high (the master holds AWADDR and WDATA until then), and a read's address is
  // the one presented while neither ARREADY nor RVALID is.
  wire start = s_axi_control_AWVALID && s_axi_control_AWREADY && s_axi_control_WVALID &&
      s_axi_control_AWADDR == REG_CTRL && s_axi_control_WDATA[0];
  reg [1:0] read_ours;  // the read in flight is of: 0 the core, 1 BUS_STATUS, 2/3 BUS_ADDR
  always @(posedge ap_clk) begin
    if (!ap_rst_n) read_ours <= 2'd0;
    else if (s_axi_control_ARVALID && !s_axi_control_ARREADY && !s_axi_control_RVALID)
      case (s_axi_control_ARADDR)
        REG_BUS_STATUS: read_ours <= 2'd1;
        REG_BUS_ADDR: read_ours <= 2'd2;
        REG_BUS_ADDR + 4: read_ours <= 2'd3;
        default: read_ours <= 2'd0;
      endcase
  end
  assign s_axi_control_RDATA =
      read_ours == 2'd1 ? {27'd0, bus_status} :
      read_ours == 2'd2 ? bus_addr[31:0] :
      read_ours == 2'd3 ? bus_addr[63:32] : core_rdata;

  lif_core core (
      .clk(ap_clk),
      .rst_n(ap_rst_n),
      .s_axi_awaddr(s_axi_control_AWADDR),
      .s_axi_awvalid(s_axi_control_AWVALID),
      .s_axi_awready(s_axi_control_AWREADY),
      .s_axi_wdata(s_axi_control_WDATA),
      .s_axi_wstrb(s_axi_control_WSTRB),
      .s_axi_wvalid(s_axi_control_WVALID),
      .s_axi_wready(s_axi_control_WREADY),
      .s_axi_bresp(s_axi_control_BRESP),
      .s_axi_bvalid(s_axi_control_BVALID),
      .s_axi_bready(s_axi_control_BREADY),
      .s_axi_araddr(s_axi_control_ARADDR),
      .s_axi_arvalid(s_axi_control_ARVALID),
      .s_axi_arready(s_axi_control_ARREADY),
      .s_axi_rdata(core_rdata),
      .s_axi_rresp(s_axi_control_RRESP),
      .s_axi_rvalid(s_axi_control_RVALID),
      .s_axi_rready(s_axi_control_RREADY),
      .interrupt(interrupt),
      .m_valid(m_valid),
      .m_ready(m_ready),
      .m_write(m_write),
      .m_wide(m_wide),
      .m_addr(m_addr),
      .m_wdata(m_wdata),
      .m_rvalid(m_rvalid),
      .m_rdata(m_rdata)
  );

  lif_axi4_master bridge (
      .clk(ap_clk),
      .rst_n(ap_rst_n),
      .clear(start),
      .m_valid(m_valid),
      .m_ready(m_ready),
      .m_write(m_write),
      .m_wide(m_wide),
      .m_addr(m_addr),
      .m_wdata(m_wdata),
      .m_rvalid(m_rvalid),
      .m_rdata(m_rdata),
      .status(bus_status),
      .error_addr(bus_addr),
      .axi_awid(m_axi_gmem_AWID),
      .axi_awaddr(m_axi_gmem_AWADDR),
      .axi_awlen(m_axi_gmem_AWLEN),
      .axi_awsize(m_axi_gmem_AWSIZE),
      .axi_awburst(m_axi_gmem_AWBURST),
      .axi_awlock(m_axi_gmem_AWLOCK),
      .axi_awcache(m_axi_gmem_AWCACHE),
      .axi_awprot(m_axi_gmem_AWPROT),
      .axi_awqos(m_axi_gmem_AWQOS),
      .axi_awregion(m_axi_gmem_AWREGION),
      .axi_awvalid(m_axi_gmem_AWVALID),
      .axi_awready(m_axi_gmem_AWREADY),
      .axi_wdata(m_axi_gmem_WDATA),
      .axi_wstrb(m_axi_gmem_WSTRB),
      .axi_wlast(m_axi_gmem_WLAST),
      .axi_wvalid(m_axi_gmem_WVALID),
      .axi_wready(m_axi_gmem_WREADY),
      .axi_bid(m_axi_gmem_BID),
      .axi_bresp(m_axi_gmem_BRESP),
      .axi_bvalid(m_axi_gmem_BVALID),
      .axi_bready(m_axi_gmem_BREADY),
      .axi_arid(m_axi_gmem_ARID),
      .axi_araddr(m_axi_gmem_ARADDR),
      .axi_arlen(m_axi_gmem_ARLEN),
      .axi_arsize(m_axi_gmem_ARSIZE),
      .axi_arburst(m_axi_gmem_ARBURST),
      .axi_arlock(m_axi_gmem_ARLOCK),
      .axi_arcache(m_axi_gmem_ARCACHE),
      .axi_arprot(m_axi_gmem_ARPROT),
      .axi_arqos(m_axi_gmem_ARQOS),
      .axi_arregion(m_axi_gmem_ARREGION),
      .axi_arvalid(m_axi_gmem_ARVALID),
      .axi_arready(m_axi_gmem_ARREADY),
      .axi_rid(m_axi_gmem_RID),
      .axi_rdata(m_axi_gmem_RDATA),
      .axi_rresp(m_axi_gmem_RRESP),
      .axi_rlast(m_axi_gmem_RLAST),
      .axi_rvalid(m_axi_gmem_RVALID),
      .axi_rready(m_axi_gmem_RREADY)
  );
endmodule
