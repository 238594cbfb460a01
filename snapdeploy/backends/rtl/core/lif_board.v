// The board top of the RTL LIF core: the core, its buffers in on-chip memory and a narrow host
// link, a UART byte protocol that reads and writes the core's AXI-Lite registers and the
// buffer memory, so a board with only a USB-serial bridge runs the same driver as a Zynq.
// Two boards use it: the ULX3S 85F (ECP5; 25 MHz clock, the FT231X on two pins; ulx3s.lpf),
// its buffers in inferred block RAM (8K 64-bit words, 64 KB), and the iCEBreaker (iCE40
// UP5K; 12 MHz clock, the FT2232H's second channel; icebreaker.pcf), built with
// SNAP_BUFFER_SPRAM: its buffers in the UP5K's four SPRAMs (lif_spram.v: 16K 64-bit words,
// 128 KB), which its 30 EBR could not hold. CLOCKS_PER_BIT is the clock over the baud rate:
// 1 Mbaud on both boards (25 and 12).
//
// The protocol, every value little-endian; the host sends a 9-byte header: a command byte,
// a 32-bit address and a 32-bit argument, and then
//   0x01 write register  (address: register offset, argument: value)  reply: 0x06
//   0x02 read register   (address: register offset)                  reply: the 4-byte value
//   0x03 write memory    (address: byte address, argument: words), then 4 bytes per word;
//                                                                     reply: 0x06
//   0x04 read memory     (address: byte address, argument: words)    reply: 4 bytes per word
// An unknown command is answered 0x15. Buffer addresses are byte offsets into the buffer
// memory (BUFFER_WORDS 64-bit words): what the core's pointer registers hold. The host
// touches the memory only while the core is idle; the core's requests come first. Nothing in
// it is set by the bitstream: the host writes every buffer (parameter image, spikes, state)
// before the core reads it.
//
// led[0] is high from an ap_start written through the link until a CTRL read through it sees
// ap_done or ap_idle (while the core may run); led[1] while a command is being served. A
// simulation of the board reads them to know when it may wait for the host.
`include "lif_params.vh"

module lif_board #(
    parameter integer CLOCKS_PER_BIT = 25
) (
    input wire clk,
    input wire ftdi_txd,  // the bridge transmits: the FPGA receives
    output wire ftdi_rxd,  // the bridge receives: the FPGA transmits
    output wire [3:0] led
);
`ifdef SNAP_BUFFER_SPRAM
  localparam integer BUFFER_WORDS = 16384;
`else
  localparam integer BUFFER_WORDS = 8192;
`endif
  localparam integer BA = $clog2(BUFFER_WORDS);
  localparam integer ADDR_BITS = `SNAP_REG_ADDR_BITS;
  localparam [7:0] WRITE_REG = 8'h01, READ_REG = 8'h02, WRITE_MEM = 8'h03, READ_MEM = 8'h04;
  localparam [7:0] ACK = 8'h06, NAK = 8'h15;

  // Power-on reset: held for 15 cycles after configuration.
  reg [3:0] reset_count = 4'd0;
  wire rst_n = &reset_count;
  always @(posedge clk) if (!rst_n) reset_count <= reset_count + 4'd1;

  // ---------------------------------------------------------------- the core
  reg awvalid, arvalid;
  wire awready, wready, bvalid, arready, rvalid, interrupt;
  wire [1:0] bresp, rresp;
  wire [31:0] rdata;
  wire m_valid, m_write, m_wide;
  wire [63:0] m_addr, m_wdata;
  reg m_rvalid;
  reg [63:0] m_rdata;
  // A lean core's pointer registers hold the buffer memory's byte addresses only (the host
  // refuses a buffer beyond it); others keep 64 bits.
  lif_core #(
      .M_ADDR_BITS(`SNAP_LEAN != 0 ? BA + 3 : 64)
  ) core (
      .clk(clk),
      .rst_n(rst_n),
      .s_axi_awaddr(awaddr),
      .s_axi_awvalid(awvalid),
      .s_axi_awready(awready),
      .s_axi_wdata(wdata),
      .s_axi_wstrb(4'hf),
      .s_axi_wvalid(awvalid),
      .s_axi_wready(wready),
      .s_axi_bresp(bresp),
      .s_axi_bvalid(bvalid),
      .s_axi_bready(1'b1),
      .s_axi_araddr(araddr),
      .s_axi_arvalid(arvalid),
      .s_axi_arready(arready),
      .s_axi_rdata(rdata),
      .s_axi_rresp(rresp),
      .s_axi_rvalid(rvalid),
      .s_axi_rready(1'b1),
      .interrupt(interrupt),
      .m_valid(m_valid),
      .m_ready(1'b1),
      .m_write(m_write),
      .m_wide(m_wide),
      .m_addr(m_addr),
      .m_wdata(m_wdata),
      .m_rvalid(m_rvalid),
      .m_rdata(m_rdata)
  );

  // ---------------------------------------------------------------- the buffer memory
  // One port, 64 bits wide with a write enable per 32-bit half; the core's request is served
  // in the cycle it is made (answered the next), the link's when the core makes none.
  wire link_mem, link_write;  // the link's request this cycle (its step's, unless the core's)
  wire [31:0] link_addr, link_data;
  wire core_mem = m_valid;
  wire [31:0] p_byte = core_mem ? m_addr[31:0] : link_addr;
  wire [BA-1:0] p_addr = p_byte[BA+2:3];
  wire p_half = p_byte[2];
  wire p_wide = core_mem && m_wide;
  wire p_write = core_mem ? m_write : link_mem && link_write;
  wire [63:0] p_data = core_mem ? (m_wide ? m_wdata : {2{m_wdata[31:0]}}) : {2{link_data}};
  wire [1:0] p_halves = {2{p_write}} & {p_wide || p_half, p_wide || !p_half};
  reg q_wide, q_half;
  always @(posedge clk) begin
    q_wide <= p_wide;
    q_half <= p_half;
  end
`ifdef SNAP_BUFFER_SPRAM
  wire [63:0] p_q;
  lif_spram buffer (
      .clk(clk),
      .addr(p_addr),
      .wdata(p_data),
      .write(p_halves),
      .q(p_q)
  );
`else
  reg [63:0] buffer[0:BUFFER_WORDS-1];
  reg [63:0] p_q;
  always @(posedge clk) begin
    if (p_halves[0]) buffer[p_addr][31:0] <= p_data[31:0];
    if (p_halves[1]) buffer[p_addr][63:32] <= p_data[63:32];
    p_q <= buffer[p_addr];
  end
`endif
  wire [31:0] q_word = q_half ? p_q[63:32] : p_q[31:0];
  always @(posedge clk) m_rvalid <= rst_n && core_mem;
  always @* m_rdata = q_wide ? p_q : {32'd0, q_word};

  // ---------------------------------------------------------------- the UART
  wire rx_valid, tx_busy;
  wire [7:0] rx_data;
  reg tx_start;
  reg [7:0] tx_data;
  lif_uart_rx #(
      .CLOCKS_PER_BIT(CLOCKS_PER_BIT)
  ) receiver (
      .clk(clk),
      .rst_n(rst_n),
      .rx(ftdi_txd),
      .valid(rx_valid),
      .data(rx_data)
  );
  lif_uart_tx #(
      .CLOCKS_PER_BIT(CLOCKS_PER_BIT)
  ) transmitter (
      .clk(clk),
      .rst_n(rst_n),
      .start(tx_start),
      .data(tx_data),
      .busy(tx_busy),
      .tx(ftdi_rxd)
  );

  // ---------------------------------------------------------------- the protocol
  localparam [3:0] HEADER = 4'd0, DISPATCH = 4'd1, REG_WRITE = 4'd2, REG_READ = 4'd3,
      MEM_IN = 4'd4, MEM_WRITE = 4'd5, MEM_READ = 4'd6, MEM_WAIT = 4'd7, SEND = 4'd8;
  reg [3:0] step, after_send;
  reg [71:0] header;  // command, address, argument, as received (first byte lowest)
  reg [3:0] header_bytes;
  // a memory command's next address and words left: its header's fields, stepped in place
  wire [31:0] address = header[39:8], words = header[71:40];
  reg [31:0] word_in;
  reg [1:0] word_bytes;
  reg [31:0] send_word;
  reg [2:0] send_left;
  // The link's memory request: its address and word as the step holds them, served in the
  // cycle (the core's requests come first; a read's word is out the next cycle, MEM_WAIT).
  assign link_mem = (step == MEM_WRITE || step == MEM_READ) && !core_mem;
  assign link_write = step == MEM_WRITE;
  assign link_addr = address;
  assign link_data = word_in;
  wire [7:0] command = header[7:0];
  // A register command's address and value, held in the header until the next one arrives
  wire [ADDR_BITS-1:0] awaddr = header[ADDR_BITS+7:8], araddr = header[ADDR_BITS+7:8];
  wire [31:0] wdata = header[71:40];
  reg running;
  wire at_ctrl = header[ADDR_BITS+7:8] == `SNAP_REG_CTRL;

  assign led = {2'b00, step != HEADER, running};

  always @(posedge clk) begin
    tx_start <= 1'b0;
    if (!rst_n) begin
      step <= HEADER;
      header_bytes <= 4'd0;
      awvalid <= 1'b0;
      arvalid <= 1'b0;
      running <= 1'b0;
    end else
      case (step)
        HEADER:
        if (rx_valid) begin
          header <= {rx_data, header[71:8]};
          header_bytes <= header_bytes + 4'd1;
          if (header_bytes == 4'd8) begin
            header_bytes <= 4'd0;
            step <= DISPATCH;
          end
        end
        DISPATCH: begin
          word_bytes <= 2'd0;
          case (command)
            WRITE_REG: begin
              awvalid <= 1'b1;
              if (at_ctrl && header[40]) running <= 1'b1;  // ap_start
              step <= REG_WRITE;
            end
            READ_REG: begin
              arvalid <= 1'b1;
              step <= REG_READ;
            end
            WRITE_MEM: step <= header[71:40] == 0 ? SEND : MEM_IN;
            READ_MEM: step <= header[71:40] == 0 ? HEADER : MEM_READ;
            default: step <= SEND;
          endcase
          send_word <= {24'd0, command == WRITE_REG || command == WRITE_MEM ? ACK : NAK};
          send_left <= 3'd1;
          after_send <= HEADER;
        end
        REG_WRITE: begin
          if (awready) awvalid <= 1'b0;
          if (bvalid) step <= SEND;
        end
        REG_READ: begin
          if (arready) arvalid <= 1'b0;
          if (rvalid) begin
            if (at_ctrl && |rdata[2:1]) running <= 1'b0;  // ap_done or ap_idle
            send_word <= rdata;
            send_left <= 3'd4;
            step <= SEND;
          end
        end
        MEM_IN:
        if (rx_valid) begin
          word_in <= {rx_data, word_in[31:8]};
          word_bytes <= word_bytes + 2'd1;
          if (word_bytes == 2'd3) step <= MEM_WRITE;
        end
        MEM_WRITE:
        if (!core_mem) begin
          header[71:8] <= {words - 32'd1, address + 32'd4};
          step <= words == 32'd1 ? SEND : MEM_IN;
        end
        MEM_READ:
        if (!core_mem) begin
          header[71:8] <= {words - 32'd1, address + 32'd4};
          step <= MEM_WAIT;
        end
        MEM_WAIT: begin  // the request went out last cycle; its word is read this one
          send_word <= q_word;
          send_left <= 3'd4;
          after_send <= words == 32'd0 ? HEADER : MEM_READ;
          step <= SEND;
        end
        SEND:
        if (!tx_start && !tx_busy) begin
          if (send_left == 3'd0) step <= after_send;
          else begin
            tx_start <= 1'b1;
            tx_data <= send_word[7:0];
            send_word <= send_word >> 8;
            send_left <= send_left - 3'd1;
          end
        end
        default: step <= HEADER;
      endcase
  end
endmodule
