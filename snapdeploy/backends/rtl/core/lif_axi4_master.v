// The LIF core's memory master as a full AXI4 master (64-bit data), so the core reaches a
// Zynq's DDR through S_AXI_HP0 as the HLS core's m_axi ports do.
//
// The core asks for one 4- or 8-byte word at a time and waits for it (lif_core.v: m_valid /
// m_ready, then m_rvalid with read data or a write acknowledge). Its reads of 4-byte words
// are sequential streams (the parameter image when it loads, an input spike frame per step);
// its 8-byte reads interleave three streams (u[n], v[n], pending a[n] of one batch item) and
// its writes go one word at a time, each waited for. So:
//
// - A 4-byte read that misses the line buffer starts an INCR burst from its own 64-bit beat
//   to the end of its LINE_BYTES-aligned line (at most LINE_BEATS beats); the core is
//   answered as soon as its beat arrives and its next words come from the line, often
//   while the burst is still arriving. A line never crosses a 4 KB page (LINE_BYTES divides
//   4096), so neither does a burst, and a read ahead stays in the page of the word asked
//   for; LINE_BEATS = 16 is also AXI3's longest burst, so the Zynq's HP ports take it whole.
// - An 8-byte read is a single beat into the line (a line per stream would be needed for
//   the three state streams to burst: see hw/README.md); a later read of the same beat hits.
// - A write is a single beat (4 bytes: AWSIZE 2 on the half of the beat its address names;
//   8 bytes: AWSIZE 3), acknowledged to the core when its BRESP arrives; it drops the line
//   if it falls in it, so a read never sees data older than a write.
//
// Errors are never silent: an RRESP or BRESP other than OKAY (a prefetched beat's too) or a
// misaligned request sets a sticky `status` bit and `error_addr` (the first failure's), and
// from then on the bridge answers the core at once without touching the bus (reads as zero),
// so the pass ends quickly and writes nothing more; the driver reads the status after
// ap_done and raises. `clear` (a new pass's ap_start) drops the status and the line.
module lif_axi4_master (
    input wire clk,
    input wire rst_n,
    input wire clear,
    // The core's memory master
    input wire m_valid,
    output wire m_ready,
    input wire m_write,
    input wire m_wide,
    input wire [63:0] m_addr,
    input wire [63:0] m_wdata,
    output reg m_rvalid,
    output reg [63:0] m_rdata,
    // bit 0: a read answered with an error, 1: a write answered with an error, 2: a
    // misaligned request; bits 4:3: the first error response (2 SLVERR, 3 DECERR)
    output reg [4:0] status,
    output reg [63:0] error_addr,
    // AXI4 master: write address
    output wire [0:0] axi_awid,
    output reg [63:0] axi_awaddr,
    output wire [7:0] axi_awlen,
    output reg [2:0] axi_awsize,
    output wire [1:0] axi_awburst,
    output wire axi_awlock,
    output wire [3:0] axi_awcache,
    output wire [2:0] axi_awprot,
    output wire [3:0] axi_awqos,
    output wire [3:0] axi_awregion,
    output reg axi_awvalid,
    input wire axi_awready,
    // write data
    output reg [63:0] axi_wdata,
    output reg [7:0] axi_wstrb,
    output wire axi_wlast,
    output reg axi_wvalid,
    input wire axi_wready,
    // write response
    input wire [0:0] axi_bid,
    input wire [1:0] axi_bresp,
    input wire axi_bvalid,
    output wire axi_bready,
    // read address
    output wire [0:0] axi_arid,
    output reg [63:0] axi_araddr,
    output reg [7:0] axi_arlen,
    output wire [2:0] axi_arsize,
    output wire [1:0] axi_arburst,
    output wire axi_arlock,
    output wire [3:0] axi_arcache,
    output wire [2:0] axi_arprot,
    output wire [3:0] axi_arqos,
    output wire [3:0] axi_arregion,
    output reg axi_arvalid,
    input wire axi_arready,
    // read data
    input wire [0:0] axi_rid,
    input wire [63:0] axi_rdata,
    input wire [1:0] axi_rresp,
    input wire axi_rlast,
    input wire axi_rvalid,
    output wire axi_rready
);
  localparam integer LINE_BEATS = 16;
  localparam integer BEAT_BITS = 4;  // log2(LINE_BEATS)
  localparam integer LINE_SHIFT = BEAT_BITS + 3;  // log2(LINE_BYTES), 128 bytes

  // One ID, in order; INCR bursts; normal non-cacheable bufferable memory (as Vitis HLS).
  assign axi_awid = 1'b0;
  assign axi_awlen = 8'd0;
  assign axi_awburst = 2'b01;
  assign axi_awlock = 1'b0;
  assign axi_awcache = 4'b0011;
  assign axi_awprot = 3'b000;
  assign axi_awqos = 4'd0;
  assign axi_awregion = 4'd0;
  assign axi_wlast = 1'b1;
  assign axi_bready = 1'b1;
  assign axi_arid = 1'b0;
  assign axi_arsize = 3'd3;
  assign axi_arburst = 2'b01;
  assign axi_arlock = 1'b0;
  assign axi_arcache = 4'b0011;
  assign axi_arprot = 3'b000;
  assign axi_arqos = 4'd0;
  assign axi_arregion = 4'd0;
  assign axi_rready = 1'b1;  // the line has room for every beat of a burst

  // The request being served: one taken earlier (busy), or one arriving now, which a hit
  // answers at once.
  reg busy, req_write, req_wide;
  reg [63:0] req_addr, req_wdata;
  assign m_ready = !busy;
  wire active = busy || m_valid;
  wire cur_write = busy ? req_write : m_write;
  wire cur_wide = busy ? req_wide : m_wide;
  wire [63:0] cur_addr = busy ? req_addr : m_addr;
  wire [63:0] cur_wdata = busy ? req_wdata : m_wdata;

  // The line buffer: beats line_lo .. line_lo + line_filled - 1 of line line_tag are here.
  reg [63:0] line[0:LINE_BEATS-1];
  reg line_valid;
  reg [63-LINE_SHIFT:0] line_tag;
  reg [BEAT_BITS-1:0] line_lo;
  reg [BEAT_BITS:0] line_filled;
  reg reading;  // a burst's beats are still arriving
  reg writing;  // the request's write is on the bus

  wire [BEAT_BITS-1:0] beat = cur_addr[LINE_SHIFT-1:3];
  wire [63-LINE_SHIFT:0] tag = cur_addr[63:LINE_SHIFT];
  wire [BEAT_BITS:0] beat_end = {1'b0, line_lo} + line_filled;
  wire hit = line_valid && line_tag == tag && beat >= line_lo && {1'b0, beat} < beat_end;
  wire [63:0] word = line[beat];
  wire [BEAT_BITS-1:0] arriving = line_lo + line_filled[BEAT_BITS-1:0];
  wire misaligned = cur_wide ? |cur_addr[2:0] : |cur_addr[1:0];
  wire failed = |status[2:0];

  always @(posedge clk) begin
    if (!rst_n) begin
      busy <= 1'b0;
      m_rvalid <= 1'b0;
      line_valid <= 1'b0;
      reading <= 1'b0;
      writing <= 1'b0;
      axi_arvalid <= 1'b0;
      axi_awvalid <= 1'b0;
      axi_wvalid <= 1'b0;
      status <= 5'd0;
      error_addr <= 64'd0;
    end else begin
      m_rvalid <= 1'b0;
      if (m_valid && m_ready) begin
        busy <= 1'b1;
        req_write <= m_write;
        req_wide <= m_wide;
        req_addr <= m_addr;
        req_wdata <= m_wdata;
      end
      if (axi_arvalid && axi_arready) axi_arvalid <= 1'b0;
      if (axi_awvalid && axi_awready) axi_awvalid <= 1'b0;
      if (axi_wvalid && axi_wready) axi_wvalid <= 1'b0;
      if (axi_rvalid && reading) begin
        line[arriving] <= axi_rdata;
        line_filled <= line_filled + 1'b1;
        if (axi_rlast) reading <= 1'b0;
        if (axi_rresp[1]) begin
          line_valid <= 1'b0;
          status[0] <= 1'b1;
          if (!failed) begin
            status[4:3] <= axi_rresp;
            error_addr <= {line_tag, arriving, 3'b000};
          end
        end
      end
      if (axi_bvalid && writing) begin
        writing <= 1'b0;
        busy <= 1'b0;
        m_rvalid <= 1'b1;
        m_rdata <= 64'd0;
        if (axi_bresp[1]) begin
          status[1] <= 1'b1;
          if (!failed) begin
            status[4:3] <= axi_bresp;
            error_addr <= req_addr;
          end
        end
      end
      if (active && !writing) begin
        if (failed || misaligned) begin  // answered without the bus
          busy <= 1'b0;
          m_rvalid <= 1'b1;
          m_rdata <= 64'd0;
          if (!failed) begin
            status[2] <= 1'b1;
            error_addr <= cur_addr;
          end
        end else if (cur_write) begin
          writing <= 1'b1;
          axi_awvalid <= 1'b1;
          axi_awaddr <= cur_addr;
          axi_awsize <= cur_wide ? 3'd3 : 3'd2;
          axi_wvalid <= 1'b1;
          axi_wdata <= cur_wide ? cur_wdata : {cur_wdata[31:0], cur_wdata[31:0]};
          axi_wstrb <= cur_wide ? 8'hff : (cur_addr[2] ? 8'hf0 : 8'h0f);
          if (line_tag == tag) line_valid <= 1'b0;
        end else if (hit) begin
          busy <= 1'b0;
          m_rvalid <= 1'b1;
          m_rdata <= cur_wide ? word : {32'd0, cur_addr[2] ? word[63:32] : word[31:0]};
        end else if (!reading) begin  // a miss with the bus free: fetch into the line
          reading <= 1'b1;
          axi_arvalid <= 1'b1;
          axi_araddr <= {cur_addr[63:3], 3'b000};
          axi_arlen <= cur_wide ? 8'd0 : {{(8 - BEAT_BITS) {1'b0}}, ~beat};
          line_valid <= 1'b1;
          line_tag <= tag;
          line_lo <= beat;
          line_filled <= {(BEAT_BITS + 1) {1'b0}};
        end
      end
      if (clear) begin
        line_valid <= 1'b0;
        status <= 5'd0;
      end
    end
  end
endmodule
