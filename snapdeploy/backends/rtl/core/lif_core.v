// The RTL LIF core: snapdeploy's integer neuron (Lava 0.10.0's fixed_pt LIF behind its Dense,
// DelayDense or Conv synapse; sum pooling runs as the depthwise conv it is), its synapse
// engine SYN_LANES weights wide and its LIF update LIF_LANES neurons per cycle (a delay
// layer's one) from block RAM, behind the AXI-Lite register map and the spike, state and parameter buffers of the HLS core, so one
// driver runs either.
//
// Per layer and time step, all signed integers (DESIGN.md, "The integer neuron"):
//   a_accum = sum of the weights of the inputs that spiked this step
//   Dense:  a = (a_accum << 1) << weight_exp (arithmetic >> when negative)   sent NEXT step
//   DelayDense: one a_accum per delay d (each shifted on its own), sent d + 1 steps later
//     through each neuron's delay line (Lava's buffer: send column 0, move the rest forward,
//     add this step's activation of delay d to column d)
//   Conv: a_accum is Lava's convolution of the input image (x, y, channel) with the flipped
//     kernel, and a = wrap24(a_accum << weight_exp), a modulo into signed 24 bits   sent NEXT step
//   u = wrap24(decay(u, du + 1) + (a_prev << 6))     one conditional correction, not modulo
//   v = clip(decay(v, dv) + u + (bias_mant << bias_exp), -(2^23 - 1), 2^23 - 1)
//   spike when v > (vth << 6); then v = 0, or v -= vth << 6 where the layer's reset word is 1
//   (u is not reset)
// with decay(x, d) = sign(x * (4096 - d)) * (|x * (4096 - d)| >> 12).
//
// The synapse engine is event driven for every layer: each input spike adds weight rows,
// SYN_LANES weights a cycle, into the accumulators: a Dense or delay layer its input's row
// (a delay layer's weight into the sum of its synapse's delay), a conv layer, for each kernel
// tap (i, j) whose output position ((x + px - i dx) / sx, (y + py - j dy) / sy) divides
// exactly and lies inside the output, the tap's weights for the input's channel (the
// C_out / groups weights of its group, held once in the weight RAM) into that position's
// channels of the group: a run of accumulators starting anywhere, so the accumulators are
// SYN_LANES banks, each addressed on its own, and the weight line is rotated onto them.
// A spike's coordinates (x, y, channel) come from its index by multiplying by reciprocals
// the layer table holds (no divider).
//
// Widths: every layer is validated to |a| <= 2^24 (core.neuron.ACTIVATION_LIMIT; a conv's a
// is wrapped into 24 bits), and a delay line's column holds a sum of activations of distinct
// delays, bounded likewise, so a pending activation needs 26 bits; u is not bounded to 24
// bits by Lava's single wrap, but |u| <= 4096 * 2^30 = 2^42 holds from zero on
// (|u'| <= max(2^24, |u| * 4095/4096 + 2^30 - 2^24)), so u needs 44. v is clipped to 24 bits.
//
// Memory master: one outstanding request (m_valid/m_ready, then m_rvalid with read data or
// a write acknowledge), byte addresses, 4-byte (m_wide = 0) or 8-byte words; spike frames and
// the parameter image are 32-bit words, the state buffer 64-bit words: u and v of every
// neuron, then every layer's pending activations ([neuron][delay-line column]).
`include "lif_params.vh"

module lif_core #(
    parameter integer LAYER_CAP = `SNAP_LAYER_CAP,
    parameter integer NEURON_CAP = `SNAP_NEURON_CAP,
    parameter integer WEIGHT_CAP = `SNAP_WEIGHT_CAP,
    parameter integer WIDTH_CAP = `SNAP_WIDTH_CAP,
    parameter integer PENDING_CAP = `SNAP_PENDING_CAP,
    parameter integer DELAY_CAP = `SNAP_DELAY_CAP,
    parameter integer ACC_CAP = `SNAP_ACC_CAP,
    parameter integer WEIGHT_BITS = `SNAP_WEIGHT_BITS,
    parameter integer SYN_LANES = `SNAP_SYN_LANES,
    parameter integer LIF_LANES = `SNAP_LIF_LANES,
    parameter integer ADDR_BITS = `SNAP_REG_ADDR_BITS,
    // Bits of a buffer address: 64 where the buffers are in the host's memory (a Zynq's, or a
    // simulation's); a board top with its buffers on chip sets its memory's, so the pointer
    // registers hold no more (their upper bits read 0; the host places no buffer beyond).
    parameter integer M_ADDR_BITS = 64
) (
    input wire clk,
    input wire rst_n,
    // AXI-Lite slave: the register map
    input wire [ADDR_BITS-1:0] s_axi_awaddr,
    input wire s_axi_awvalid,
    output reg s_axi_awready,
    input wire [31:0] s_axi_wdata,
    input wire [3:0] s_axi_wstrb,
    input wire s_axi_wvalid,
    output reg s_axi_wready,
    output wire [1:0] s_axi_bresp,
    output reg s_axi_bvalid,
    input wire s_axi_bready,
    input wire [ADDR_BITS-1:0] s_axi_araddr,
    input wire s_axi_arvalid,
    output reg s_axi_arready,
    output reg [31:0] s_axi_rdata,
    output wire [1:0] s_axi_rresp,
    output reg s_axi_rvalid,
    input wire s_axi_rready,
    output wire interrupt,
    // Memory master: spike frames, state and parameters in the host's memory
    output reg m_valid,
    input wire m_ready,
    output reg m_write,
    output reg m_wide,
    output reg [63:0] m_addr,
    output reg [63:0] m_wdata,
    input wire m_rvalid,
    input wire [63:0] m_rdata
);
  // The optional engines this core is built with (the header's, from the partition's layer
  // kinds): where one is 0 its logic is constant-folded away, in Verilator's model (which
  // evaluates the whole design every cycle) and in synthesis.
  localparam integer HAS_DELAY = `SNAP_HAS_DELAY;
  localparam integer HAS_CONV = `SNAP_HAS_CONV;
  localparam integer LEAN = `SNAP_LEAN;  // lif_params.vh.in says what it trims
  // The bits of a pointer register's low and high words that hold M_ADDR_BITS.
  localparam [31:0] PTR_LOW = M_ADDR_BITS >= 32 ? 32'hffffffff : (32'd1 << M_ADDR_BITS) - 32'd1;
  localparam [31:0] PTR_HIGH = M_ADDR_BITS >= 64 ? 32'hffffffff :
      (M_ADDR_BITS > 32 ? (32'd1 << (M_ADDR_BITS - 32)) - 32'd1 : 32'd0);
  localparam integer U_W = 44;
  localparam integer V_W = 24;
  localparam integer A_W = 26;  // an activation, and a delay line's column
  localparam integer NA = $clog2(NEURON_CAP);
  localparam integer PA = $clog2(PENDING_CAP);
  localparam integer XA = $clog2(WIDTH_CAP);
  localparam integer ACC_W = XA + WEIGHT_BITS + 1;
  localparam integer PROD_W = U_W + 14;
  // acc << 1 << 7 and its sign, at least as wide as a stored activation
  localparam integer ACT_W = ACC_W + 9 > A_W ? ACC_W + 9 : A_W;
  // The synapse engine's lines: SYN_LANES weights (or delays) side by side, lane k of a line
  // holding weight (line * SYN_LANES + k) of a row, each row starting a new line.
  localparam integer LG = $clog2(SYN_LANES);
  localparam integer W_LINES = WEIGHT_CAP / SYN_LANES;
  localparam integer WA = $clog2(W_LINES);
  localparam integer DB = 6;  // bits of a delay
  localparam integer D_LINES = DELAY_CAP / SYN_LANES;
  localparam integer DA = $clog2(D_LINES);
  localparam integer CA = $clog2(ACC_CAP);  // an accumulator line's address in its bank
  localparam integer W_LINE = SYN_LANES * WEIGHT_BITS;
  localparam integer D_LINE = SYN_LANES * DB;
  localparam integer LD_W = WEIGHT_BITS > DB ? WEIGHT_BITS : DB;  // a lane of a line loading
  localparam integer LD_LINE = SYN_LANES * LD_W;
  localparam integer LA = $clog2(LAYER_CAP) + 1;
  // The LIF update's lanes: LL neurons a cycle (a power of two dividing SYN_LANES, so a
  // group of neurons starting at a multiple of LL lies in one accumulator line and one
  // spike word).
  localparam integer LL = LIF_LANES;
  localparam integer LGL = $clog2(LL);
  localparam integer LGI = LGL > 0 ? LGL : 1;  // bits of a lane's index
  localparam integer TABLE_HEADER = `SNAP_LAYER_TABLE_HEADER;
  localparam integer TABLE_LAYER = `SNAP_LAYER_TABLE_LAYER;
  localparam integer FA = $clog2(TABLE_LAYER);
  localparam integer FIELDS = `SNAP_FIELDS;
  localparam integer LAYER_WORDS = TABLE_LAYER * LAYER_CAP;
  localparam integer BLOCK_WORDS = 4 * LAYER_CAP;
  localparam integer NB = XA + 1;  // bits of a number the conv engine divides
  localparam integer SPIKE_BITS = ((WIDTH_CAP + 31) / 32) * 32;
  localparam integer SPIKE_WORDS = SPIKE_BITS / 32;
  localparam integer WW = SPIKE_WORDS > 1 ? $clog2(SPIKE_WORDS) : 1;  // bits of a word index
  // Lean: the counters of lines, neurons, words and rows, and a layer's Dense fields, as wide
  // as the capacities make them (the parameter image, the longest run, is under 4x the largest
  // capacity); 32 bits otherwise.
  localparam integer CAP_1 = NEURON_CAP > WEIGHT_CAP ? NEURON_CAP : WEIGHT_CAP;
  localparam integer CAP_2 = PENDING_CAP > DELAY_CAP ? PENDING_CAP : DELAY_CAP;
  localparam integer CAP_3 = WIDTH_CAP > ACC_CAP * SYN_LANES ? WIDTH_CAP : ACC_CAP * SYN_LANES;
  localparam integer CAP_12 = CAP_1 > CAP_2 ? CAP_1 : CAP_2;
  localparam integer CW = LEAN != 0 ? $clog2(CAP_12 > CAP_3 ? CAP_12 : CAP_3) + 3 : 32;
  localparam [31:0] FIELD_MASK = CW >= 32 ? 32'hffffffff : (32'd1 << CW) - 32'd1;
  localparam signed [U_W-1:0] STATE_LIMIT = 44'sd8388608;  // 2^23
  localparam signed [U_W-1:0] WRAP = 44'sd16777216;  // 2^24
  localparam signed [U_W+2:0] V_MAX = 47'sd8388607;  // 2^23 - 1

  // ---------------------------------------------------------------- registers (AXI-Lite)
  reg ap_start, ap_done, ap_ready, gie;
  reg [1:0] ier, isr;
  reg [31:0] reg_spikes_in[0:1];
  reg [31:0] reg_spikes_out[0:1];
  reg [31:0] reg_state[0:1];
  reg [31:0] reg_params[0:1];
  reg [31:0] reg_steps, reg_batch, reg_load;
  wire core_idle;
  wire start_ack;  // the core took ap_start
  wire finish;  // the core's pass is complete

  assign s_axi_bresp = 2'b00;
  assign s_axi_rresp = 2'b00;
  assign interrupt = gie & |(isr & ier);

  wire write_now = s_axi_awvalid && s_axi_wvalid && !s_axi_awready && !s_axi_bvalid;
  wire read_now = s_axi_arvalid && !s_axi_arready && !s_axi_rvalid;

  always @(posedge clk) begin
    if (!rst_n) begin
      s_axi_awready <= 1'b0;
      s_axi_wready <= 1'b0;
      s_axi_bvalid <= 1'b0;
      s_axi_arready <= 1'b0;
      s_axi_rvalid <= 1'b0;
      s_axi_rdata <= 32'd0;
      ap_start <= 1'b0;
      ap_done <= 1'b0;
      ap_ready <= 1'b0;
      gie <= 1'b0;
      ier <= 2'b00;
      isr <= 2'b00;
    end else begin
      s_axi_awready <= write_now;
      s_axi_wready <= write_now;
      s_axi_arready <= read_now;
      if (s_axi_bvalid && s_axi_bready) s_axi_bvalid <= 1'b0;
      if (s_axi_rvalid && s_axi_rready) s_axi_rvalid <= 1'b0;
      if (start_ack) ap_start <= 1'b0;
      if (finish) begin
        ap_done <= 1'b1;
        ap_ready <= 1'b1;
        isr <= isr | ier;
      end
      if (write_now) begin
        s_axi_bvalid <= 1'b1;
        case (s_axi_awaddr)
          `SNAP_REG_CTRL: if (s_axi_wdata[0]) ap_start <= 1'b1;
          `SNAP_REG_GIE: gie <= s_axi_wdata[0];
          `SNAP_REG_IER: ier <= s_axi_wdata[1:0];
          `SNAP_REG_ISR: isr <= isr ^ s_axi_wdata[1:0];  // toggle on write, as Vitis HLS
          `SNAP_REG_SPIKES_IN: reg_spikes_in[0] <= s_axi_wdata & PTR_LOW;
          `SNAP_REG_SPIKES_IN + 4: reg_spikes_in[1] <= s_axi_wdata & PTR_HIGH;
          `SNAP_REG_SPIKES_OUT: reg_spikes_out[0] <= s_axi_wdata & PTR_LOW;
          `SNAP_REG_SPIKES_OUT + 4: reg_spikes_out[1] <= s_axi_wdata & PTR_HIGH;
          `SNAP_REG_STATE: reg_state[0] <= s_axi_wdata & PTR_LOW;
          `SNAP_REG_STATE + 4: reg_state[1] <= s_axi_wdata & PTR_HIGH;
          `SNAP_REG_PARAMS: reg_params[0] <= s_axi_wdata & PTR_LOW;
          `SNAP_REG_PARAMS + 4: reg_params[1] <= s_axi_wdata & PTR_HIGH;
          `SNAP_REG_STEPS: reg_steps <= s_axi_wdata;
          `SNAP_REG_BATCH: reg_batch <= s_axi_wdata;
          `SNAP_REG_LOAD: reg_load <= LEAN != 0 ? {31'd0, s_axi_wdata != 0} : s_axi_wdata;
          default: ;
        endcase
      end
      if (read_now) begin
        s_axi_rvalid <= 1'b1;
        case (s_axi_araddr)
          `SNAP_REG_CTRL: begin
            s_axi_rdata <= {28'd0, ap_ready, core_idle, ap_done, ap_start};
            ap_done <= finish;  // clear on read
            ap_ready <= finish;
          end
          `SNAP_REG_GIE: s_axi_rdata <= {31'd0, gie};
          `SNAP_REG_IER: s_axi_rdata <= {30'd0, ier};
          `SNAP_REG_ISR: s_axi_rdata <= {30'd0, isr};
          // a lean core's argument registers are write-only (they read 0): the driver reads
          // none of them back
          `SNAP_REG_SPIKES_IN: s_axi_rdata <= LEAN != 0 ? 32'd0 : reg_spikes_in[0];
          `SNAP_REG_SPIKES_IN + 4: s_axi_rdata <= LEAN != 0 ? 32'd0 : reg_spikes_in[1];
          `SNAP_REG_SPIKES_OUT: s_axi_rdata <= LEAN != 0 ? 32'd0 : reg_spikes_out[0];
          `SNAP_REG_SPIKES_OUT + 4: s_axi_rdata <= LEAN != 0 ? 32'd0 : reg_spikes_out[1];
          `SNAP_REG_STATE: s_axi_rdata <= LEAN != 0 ? 32'd0 : reg_state[0];
          `SNAP_REG_STATE + 4: s_axi_rdata <= LEAN != 0 ? 32'd0 : reg_state[1];
          `SNAP_REG_PARAMS: s_axi_rdata <= LEAN != 0 ? 32'd0 : reg_params[0];
          `SNAP_REG_PARAMS + 4: s_axi_rdata <= LEAN != 0 ? 32'd0 : reg_params[1];
          `SNAP_REG_STEPS: s_axi_rdata <= LEAN != 0 ? 32'd0 : reg_steps;
          `SNAP_REG_BATCH: s_axi_rdata <= LEAN != 0 ? 32'd0 : reg_batch;
          `SNAP_REG_LOAD: s_axi_rdata <= LEAN != 0 ? 32'd0 : reg_load;
          default: s_axi_rdata <= 32'd0;
        endcase
      end
    end
  end

  // ---------------------------------------------------------------- on-chip memories
  // The layer table: its header, each layer's fields (read one a cycle when the layer
  // starts) and the load blocks (rows, weights per row) the weight load walks.
  reg [31:0] table_head[0:TABLE_HEADER-1];
  reg [31:0] table_layers[0:LAYER_WORDS-1];
  reg [31:0] table_blocks[0:BLOCK_WORDS-1];
  // Per layer: weight_exp, du, dv, vth, bias_exp, reset (the parameter image's first section).
  localparam integer CFG_WORDS = `SNAP_IMAGE_LAYER_WORDS * LAYER_CAP;
  reg [16:0] cfg_mem[0:CFG_WORDS-1];
`ifdef SNAP_SIM
  // A simulation is built once per capacity and serves every partition of it: the layer
  // table comes from the harness when the model starts (the parameters come, as on a board,
  // through the params port).
  import "DPI-C" function int snap_layer_word(input int index);
  integer t;
  initial begin
    for (t = 0; t < TABLE_HEADER; t = t + 1) table_head[t] = snap_layer_word(t);
    for (t = 0; t < LAYER_WORDS; t = t + 1) table_layers[t] = snap_layer_word(TABLE_HEADER + t);
    for (t = 0; t < BLOCK_WORDS; t = t + 1)
      table_blocks[t] = snap_layer_word(TABLE_HEADER + LAYER_WORDS + t);
  end
`else
  initial begin
    $readmemh(`SNAP_TABLE_HEAD_FILE, table_head);
    $readmemh(`SNAP_TABLE_LAYERS_FILE, table_layers);
    $readmemh(`SNAP_TABLE_BLOCKS_FILE, table_blocks);
    $readmemh(`SNAP_CONFIG_FILE, cfg_mem);
  end
`endif

  // Block RAMs with one synchronous read port and one write port each; the weights and the
  // delays in lines of SYN_LANES, written a whole line at a time.
  reg [W_LINE-1:0] w_mem[0:W_LINES-1];
  reg [D_LINE-1:0] d_mem[0:D_LINES-1];
`ifndef SNAP_SIM
  initial begin
    $readmemh(`SNAP_WEIGHT_FILE, w_mem);
    $readmemh(`SNAP_DELAY_FILE, d_mem);
  end
`endif

  // A loaded line of weights (or delays) is written from registers the cycle after its last
  // lane arrives; the rest write as their words arrive or the LIF update writes them back.
  reg w_we, d_we;
  reg [31:0] ld_wa;
  reg bias_we;
  reg [NA-1:0] b_wa, n_ra;  // the bias write; the first of the LL neurons read
  reg [NA-1:0] n_wa;  // the first of the neurons written (u, v)
  reg [PA-1:0] p_wa, p_ra;
  reg [LL-1:0] u_wm, v_wm, p_wm;  // the lanes written, lane i at the first address + i
  wire [W_LINE-1:0] w_wd;
  wire [D_LINE-1:0] d_wd;
  reg signed [12:0] bias_wd;
  reg [W_LINE-1:0] w_q;
  reg [D_LINE-1:0] d_q;
  // what each bank (u, v, p) or copy (bias) read
  wire [LL*13-1:0] bias_q;
  wire [LL*U_W-1:0] u_q;
  wire [LL*V_W-1:0] v_q;
  wire [LL*A_W-1:0] p_q;
  reg [NA-1:0] n_ra_1;  // the addresses read a cycle ago: which bank holds which lane
  reg [PA-1:0] p_ra_1;
  // the LIF update's write-back (else a state word arriving), its pending column's
  wire n_wb, p_wb;
  // The lanes' results: the u and v written back, the pending column written.
  wire [LL*U_W-1:0] lane_u;
  wire [LL*V_W-1:0] lane_v;
  wire [LL*A_W-1:0] lane_p;
  // The neuron memories are read only while the update or the state going out needs them.
  wire n_read, p_read;

  // The weights and delays are read only while a row's lines issue (phase ROW): the
  // simulation, which evaluates every block every cycle, skips the wide reads otherwise.
  always @(posedge clk) begin
    if (w_we) w_mem[ld_wa[WA-1:0]] <= w_wd;
    if (phase == ROW) w_q <= w_mem[row_ptr[WA-1:0]+j[WA-1:0]];
  end
  always @(posedge clk)
    if (HAS_DELAY != 0) begin
      if (d_we) d_mem[ld_wa[DA-1:0]] <= d_wd;
      if (phase == ROW) d_q <= d_mem[drow_ptr[DA-1:0]+j[DA-1:0]];
    end
  // The LIF update's memories, LL neurons a cycle: u, v and the pending activations in LL
  // banks, word a in bank a % LL at row a / LL, so any LL consecutive words lie in distinct
  // banks (a group starting at word A reads bank k at word A + ((k - A) mod LL), and its
  // lane i is bank (A + i) mod LL); the biases, written only by the parameter load, in one
  // copy per lane, copy i read at neuron A + i.
  genvar bank;
  generate
    for (bank = 0; bank < LL; bank = bank + 1) begin : lif_banks
      wire [31:0] bank_id = bank;
      reg signed [12:0] bias_mem[0:NEURON_CAP-1];
      reg [12:0] bq;
`ifndef SNAP_SIM
      initial $readmemh(`SNAP_BIAS_FILE, bias_mem);
`endif
      always @(posedge clk) begin
        if (bias_we) bias_mem[b_wa] <= bias_wd;
        if (n_read) bq <= bias_mem[n_ra+bank_id[NA-1:0]];
      end
      lif_state_bank #(
          .W(U_W), .AW(NA), .ROWS(NEURON_CAP / LL), .LL(LL), .BANK(bank)
      ) u_store (
          .clk(clk), .wm(u_wm), .wa(n_wa), .word_in(m_rdata[U_W-1:0]), .wb(n_wb),
          .lanes_in(lane_u), .rd(n_read), .ra(n_ra), .q(u_q[bank*U_W+:U_W])
      );
      lif_state_bank #(
          .W(V_W), .AW(NA), .ROWS(NEURON_CAP / LL), .LL(LL), .BANK(bank)
      ) v_store (
          .clk(clk), .wm(v_wm), .wa(n_wa), .word_in(m_rdata[V_W-1:0]), .wb(n_wb),
          .lanes_in(lane_v), .rd(n_read), .ra(n_ra), .q(v_q[bank*V_W+:V_W])
      );
      lif_state_bank #(
          .W(A_W), .AW(PA), .ROWS(PENDING_CAP / LL), .LL(LL), .BANK(bank)
      ) p_store (
          .clk(clk), .wm(p_wm), .wa(p_wa), .word_in(m_rdata[A_W-1:0]), .wb(p_wb),
          .lanes_in(lane_p), .rd(p_read), .ra(p_ra), .q(p_q[bank*A_W+:A_W])
      );
      assign bias_q[bank*13+:13] = bq;
    end
  endgenerate

  // ---------------------------------------------------------------- control
  localparam [4:0] IDLE = 5'd0, LOAD_REQ = 5'd1, LOAD_WAIT = 5'd2, ITEM = 5'd3,
      SIN_REQ = 5'd4, SIN_WAIT = 5'd5, STEP = 5'd6, UNPACK_REQ = 5'd7, UNPACK_WAIT = 5'd8,
      LAYER = 5'd9, SCAN = 5'd10, ROW = 5'd11, UPDATE = 5'd12, DRAIN = 5'd13,
      NEXT_LAYER = 5'd14, PACK_REQ = 5'd15, PACK_WAIT = 5'd16, SOUT_REQ = 5'd19, SOUT_WAIT = 5'd20, FINISH = 5'd21, GAP = 5'd22,
      LAYER_SETUP = 5'd25, CV_MUL = 5'd26,
      CV_SHIFT = 5'd27, CV_REM = 5'd28, TAP = 5'd29, TAP_BASE = 5'd30, CV_QD = 5'd31;
  reg [4:0] phase;
  assign core_idle = (phase == IDLE);
  assign start_ack = (phase == IDLE) && ap_start;
  assign finish = (phase == FINISH);

  // The partition's sizes, from the layer table's header.
  wire [31:0] n_layers = table_head[0];
  wire [31:0] n_neurons = table_head[1];
  wire [31:0] n_weights = table_head[2];
  wire [31:0] image_words = table_head[5];
  wire [31:0] config_words = table_head[6];
  wire [31:0] n_pending = table_head[7];
  wire [31:0] in_words = (table_head[3] + 31) >> 5;
  wire [31:0] out_words = (table_head[4] + 31) >> 5;

  // Arguments latched at ap_start; running pointers through the buffers.
  // Lean: the steps and batch registers are read as the run goes, not copied at ap_start (the
  // driver writes them only while the core is idle).
  reg [31:0] steps_arg, batch_arg;
  wire [31:0] steps = LEAN != 0 ? reg_steps : steps_arg;
  wire [31:0] batch = LEAN != 0 ? reg_batch : batch_arg;
  reg [63:0] in_ptr, out_ptr, item_ptr, param_ptr, s_ptr;
  // the item and the step (lean: the items and steps left, so that the count's adder feeds
  // its register alone and shares its logic cell)
  reg [31:0] b, t_step;
  reg [CW-1:0] word, image_left;
  reg [1:0] region;  // which part of an item's state: u, v, pending activations
  reg [CW-1:0] idx;  // the word within it
  reg [CW-1:0] idx_succ;  // the state going out: the word after idx, in its region (registered)
  reg [1:0] section;  // parameter image section: layer words, biases, weights, delays
  reg [CW-1:0] sec_index;
  // Where the state going out stands (see sout_issue), and whether the word being written is
  // the item's last.
  reg [1:0] sout_age;
  reg sout_last;

  // The layer being run: its fields, read from the layer table when it starts.
  reg [LA-1:0] layer;
  reg [7:0] cfg_base;  // where the layer's words start in cfg_mem
  reg [FA:0] f;  // the field being read
  reg [31:0] lf[0:FIELDS-1];
  // The layer table is read-only, so a layer whose fields lf still holds (a one-layer
  // partition's, from the previous step on) is not read again.
  reg lf_held;
  reg [LA-1:0] lf_layer;
  reg [31:0] lt_q;
  always @(posedge clk) lt_q <= table_layers[{layer[LA-2:0], f[FA-1:0]}];
  // Lean: the layer's parameter words are read from cfg_mem (block RAM, one synchronous read)
  // a word a cycle with its fields, cfg_q being word f - 1; else all at once in LAYER_SETUP.
  reg [16:0] cfg_q;
  always @(posedge clk)
    if (LEAN != 0 && phase == LAYER) cfg_q <= cfg_mem[cfg_base+{1'b0, f}];
  wire [31:0] n_in = lf[`SNAP_F_N_IN];
  wire [31:0] no = lf[`SNAP_F_N_OUT];
  wire [31:0] w_base = lf[`SNAP_F_W_BASE];
  wire [31:0] nbase = lf[`SNAP_F_N_BASE];
  wire l_delay = HAS_DELAY != 0 && lf[`SNAP_F_KIND] == `SNAP_KIND_DELAY;
  wire l_conv = HAS_CONV != 0 && lf[`SNAP_F_KIND] == `SNAP_KIND_CONV;
  wire [31:0] stride = lf[`SNAP_F_STRIDE];  // lines per row
  wire [31:0] row_len = lf[`SNAP_F_ROW_LEN];  // weights per row
  wire [31:0] depth = lf[`SNAP_F_DEPTH];  // pending activations per neuron
  wire [31:0] p_base = lf[`SNAP_F_P_BASE];
  wire [31:0] d_base = lf[`SNAP_F_D_BASE];
  reg [31:0] row_ptr, drow_ptr, row_offset;
  reg [CW-1:0] j, rem, jd;
  reg [CA+LG-1:0] acc_base;  // the accumulator a conv row's first weight lands in

  // Loading the weights and delays: the image's row-major stream placed into lines.
  reg [LA-1:0] ld_block;
  reg [CW-1:0] ld_left, ld_rows_left;  // weights left in the row and rows left in the block
  reg [CW-1:0] ld_line;
  reg [LG-1:0] ld_lane;
  // The line being loaded, its lanes up to the last weight that arrived (lanes above it
  // zero): once its last lane is in, the line is written into its memory the next cycle.
  reg [LD_LINE-1:0] ld_buffer;
  reg ld_fresh;  // the next weight starts a line
  reg ld_row_last, ld_block_last;  // the word loading ends its row; the row ends its block
  wire ld_line_end = &ld_lane || ld_row_last;
  wire [31:0] ld_len = table_blocks[{ld_block, 1'b1}];
  wire [31:0] ld_next_rows = table_blocks[{ld_block + 1'b1, 1'b0}];
  wire [31:0] ld_next_len = table_blocks[{ld_block + 1'b1, 1'b1}];
  genvar lane;
  generate
    for (lane = 0; lane < SYN_LANES; lane = lane + 1) begin : repack
      assign w_wd[lane*WEIGHT_BITS+:WEIGHT_BITS] = ld_buffer[lane*LD_W+:WEIGHT_BITS];
      assign d_wd[lane*DB+:DB] = ld_buffer[lane*LD_W+:DB];
    end
  endgenerate
  // The layer's input spikes and its output's so far, in 32-bit words (arrays of words, not
  // one wide vector: a word or a bit is written without copying the whole vector)
  reg [31:0] spikes[0:SPIKE_WORDS-1];
  reg [31:0] next_spikes[0:SPIKE_WORDS-1];
  integer sw, ln;
  reg [3:0] drain;

  // A conv spike's coordinates: five divisions n / d by multiplying with d's reciprocal
  // (M, K from the layer's fields, exact for every n below 2^NB), in order: the index by C
  // (position, channel c), c by C / groups (group g), the position by Y (x, y), x + px by sx,
  // y + py by sy (the first tap's output x, y and remainders).
  // Each division takes four cycles (CV_MUL, CV_SHIFT, CV_QD, CV_REM), its divisor and
  // reciprocal registered when the previous one ends.
  reg [2:0] dv_step;
  reg [NB-1:0] dv_n, dv_q;
  reg [2*NB:0] dv_p;
  reg [2*NB-1:0] dv_qd;
  reg [31:0] dv_d, dv_m, dv_k;
  wire [2:0] dv_next = (phase == CV_REM) ? dv_step + 3'd1 : 3'd0;
  always @(posedge clk)
    if (HAS_CONV != 0 && (phase == SCAN || phase == CV_REM))
      case (dv_next)
        3'd0: {dv_d, dv_m, dv_k} <= {lf[`SNAP_F_C], lf[`SNAP_F_C+1], lf[`SNAP_F_C+2]};
        3'd1: {dv_d, dv_m, dv_k} <= {lf[`SNAP_F_CG], lf[`SNAP_F_CG+1], lf[`SNAP_F_CG+2]};
        3'd2: {dv_d, dv_m, dv_k} <= {lf[`SNAP_F_Y], lf[`SNAP_F_Y+1], lf[`SNAP_F_Y+2]};
        3'd3: {dv_d, dv_m, dv_k} <= {lf[`SNAP_F_SX], lf[`SNAP_F_SX+1], lf[`SNAP_F_SX+2]};
        default: {dv_d, dv_m, dv_k} <= {lf[`SNAP_F_SY], lf[`SNAP_F_SY+1], lf[`SNAP_F_SY+2]};
      endcase
  wire [NB-1:0] dv_r = dv_n - dv_qd[NB-1:0];
  reg [NB-1:0] cv_q1, cv_c, cv_y;
  reg [31:0] cv_gog;  // the group's first output channel, g * C_out / groups
  // The taps: (tx, ty) and each axis's output coordinate and remainder (xs = xo * sx + xr);
  // a tap lands where both remainders are zero and both coordinates inside the output.
  reg [15:0] tx, ty;
  reg signed [NB+1:0] xo_x, yo_y, yo_0;
  reg [NB-1:0] xr_x, yr_y, yr_0;
  reg [31:0] row_c;  // the tap's weight row: tap * C + c
  reg taps_done;
  reg [2*NB+1:0] tap_px, tap_py;
  wire tap_lands = xr_x == 0 && yr_y == 0 && !xo_x[NB+1] && !yo_y[NB+1] &&
      xo_x < $signed({1'b0, lf[`SNAP_F_XO][NB:0]}) && yo_y < $signed({1'b0, lf[`SNAP_F_YO][NB:0]});
  // One step of -dilation along an axis: (o, r) - (dq, dr), borrowing one from o where
  // r < dr (then r + (s - dr)); each candidate one adder, picked by the comparison.
  reg [NB-1:0] x_back, y_back;  // s - dr of each axis, set as the layer starts
  wire [NB-1:0] x_dxq = lf[`SNAP_F_DXQ][NB-1:0];
  wire [NB-1:0] y_dyq = lf[`SNAP_F_DYQ][NB-1:0];
  wire x_borrow = xr_x < lf[`SNAP_F_DXR][NB-1:0];
  wire y_borrow = yr_y < lf[`SNAP_F_DYR][NB-1:0];
  wire signed [NB+1:0] x_next_o = x_borrow ? xo_x + $signed({2'b11, ~x_dxq}) :
      xo_x - $signed({2'b00, x_dxq});
  wire signed [NB+1:0] y_next_o = y_borrow ? yo_y + $signed({2'b11, ~y_dyq}) :
      yo_y - $signed({2'b00, y_dyq});
  wire [NB-1:0] x_next_r = x_borrow ? xr_x + x_back : xr_x - lf[`SNAP_F_DXR][NB-1:0];
  wire [NB-1:0] y_next_r = y_borrow ? yr_y + y_back : yr_y - lf[`SNAP_F_DYR][NB-1:0];

  // Both engines read block RAM in the cycle an element issues (stage 0) and register what
  // comes out (stage 2) before any arithmetic: a BRAM's clock-to-output leaves no time for
  // more in the same cycle at 100 MHz. Values named _k are valid k cycles after issue.
  localparam integer DEPTH = 10;  // the LIF update's last stage: write-back and spike
  // Synapse engine: line j of a row issued in stage 0 (weights and delays read), the
  // accumulators read per bank in stage 2, summed and written in stage 4.
  reg [4:1] ev_valid;
  reg [CA-1:0] ev_line_1, ev_line_2;  // the bank line lane 0 of the weight line lands in
  reg [LG-1:0] ev_rot_1, ev_rot_2;  // the bank the line's first weight lands in
  reg ev_full_1, ev_full_2;  // every lane holds a weight of the row
  reg [LG-1:0] ev_rem_1, ev_rem_2;  // else: lanes that do
  reg [W_LINE-1:0] w_2;
  reg [D_LINE-1:0] d_2;
  // Lean: the banks take a line straight from the weight RAM in stage 1 and write its sums in
  // stage 2 (the registers of stages 2-4 are for 100 MHz); a bank's read and write of one
  // accumulator are still at least a cycle apart, the next row's first line two.
  wire ev_read = LEAN != 0 ? ev_valid[1] : ev_valid[2];
  wire ev_write = LEAN != 0 ? ev_valid[2] : ev_valid[4];
  wire [CA-1:0] ev_line_s = LEAN != 0 ? ev_line_1 : ev_line_2;
  wire [LG-1:0] ev_rot_s = LEAN != 0 ? ev_rot_1 : ev_rot_2;
  wire ev_full_s = LEAN != 0 ? ev_full_1 : ev_full_2;
  wire [LG-1:0] ev_rem_s = LEAN != 0 ? ev_rem_1 : ev_rem_2;
  wire [W_LINE-1:0] w_s = LEAN != 0 ? w_q : w_2;
  wire [D_LINE-1:0] d_s = LEAN != 0 ? d_q : d_2;
  // LIF update: a delay layer's neuron j's pending activations issued one column k a cycle
  // (its activation of delay k read, its column k + 1 read; the last column reads the next
  // neuron's column 0, which arrives with it), then one neuron per cycle through DEPTH
  // stages; any other layer's neurons (one column each) LL a cycle, a group j..j + LL - 1
  // (j a multiple of LL) reading the next group's column 0.
  reg [CW-1:0] k_col, p_ptr;
  reg [CA-1:0] acc_line, line_base;
  // Loop ends known a cycle ahead (registered, so no wide comparison feeds the control's
  // next state): the row's last line, the neuron's last column, the layer's last neuron,
  // the item's last step, the batch's last item.
  reg row_last, col_last, nrn_last, steps_done, items_done;
  // likewise: the state region's last word, the frame's last word, the image's last word,
  // the layer's last spike word, the kernel's last tap row and column
  reg idx_last, word_last, image_done, scan_last, ty_last, tx_last;
  wire [31:0] region_words = region == 2'd2 ? n_pending : n_neurons;
  wire [31:0] next_region_words = region == 2'd1 ? n_pending : n_neurons;
  // The state goes out a word at a time from lane 0's stage-2 registers (word idx of region),
  // the memories reading the word after it meanwhile. sout_age: 0 word idx is read, 1 (or 3,
  // after a word went out) the word read is loaded into stage 2, 2 it is ready. A word goes
  // out once ready, the first at once (SOUT_REQ), each next one as the last write is
  // acknowledged: 2 cycles a word where the memory answers in one. The read address comes
  // from registers alone: the bus's answer never reaches the banks' address adders.
  wire sout_issue = sout_age == 2'd2 &&
      (phase == SOUT_REQ || phase == SOUT_WAIT && m_rvalid && !sout_last);
  wire [CW-1:0] sout_ra = sout_age == 2'd0 ? idx : idx_succ;  // the state word read
  // the group holds its accumulator line's last neuron
  wire lane_end = &(j[LG-1:0] | group_top) || nrn_last;
  reg [DEPTH:1] up_valid;
  reg [3:1] up_pw;  // column k of a neuron's pending activations is written in stage 3
  reg [2:1] up_cap;  // the p word read is the next neuron's arrival
  reg [2:1] up_clr;  // the accumulator line read is cleared in stage 2
  reg [PA-1:0] up_pa[1:3];
  reg [CA-1:0] up_cl[1:2];
  reg [NA-1:0] up_n[1:DEPTH];
  reg [XA-1:0] up_j[1:DEPTH];
  reg [LL-1:0] up_lm[1:DEPTH];  // the lanes of the group that hold a neuron of the layer
  reg signed [4:0] l_wexp;
  // the layer's decay factors 4096 - (du + 1) and 4096 - dv, as non-negative multiplicands
  reg signed [13:0] u_factor, v_factor;
  reg [16:0] l_vth;
  reg [2:0] l_bexp;
  reg l_subtract;  // reset by subtracting vth << 6 instead of to zero
  // Every lane's spike (stage DEPTH); lane 0's registered words, which the state goes out
  // from.
  wire [LL-1:0] lane_fired;
  // Lean: the group's spikes (stage DEPTH) in their places of its spike word.
  reg [31:0] group_spikes;
  integer gs;
  always @* begin
    group_spikes = 32'd0;
    for (gs = 0; gs < LL; gs = gs + 1)
      if (up_lm[DEPTH][gs]) group_spikes[up_j[DEPTH][4:0]+gs[4:0]] = lane_fired[gs];
  end
  wire signed [U_W-1:0] sout_u;
  wire signed [V_W-1:0] sout_v;
  wire signed [A_W-1:0] sout_p;
  wire sout_load = sout_age[0];  // lane 0's stage 2 takes the state word read
  // A delay layer's neurons go one at a time (a column a cycle, in lane 0); the others' in
  // groups of LL, the last group's lanes past the layer's last neuron idle.
  wire l_group = LL > 1 && !l_delay;
  wire [31:0] group = l_group ? LL : 32'd1;
  wire [LG-1:0] group_top = l_group ? LL - 1 : 0;  // the group's last lane, as a bank offset
  wire signed [U_W+2:0] threshold_9 = $signed({24'd0, l_vth, 6'd0});

  // The accumulator banks: bank k holds accumulator (line * SYN_LANES + k) of a layer (a delay
  // layer's (neuron line * depth + delay) * SYN_LANES + lane). In stage 2 each bank takes the
  // weight lane that lands in it and reads its accumulator; in stage 4 it writes the sum
  // (lean: stages 1 and 2).
  wire [SYN_LANES*ACC_W-1:0] acc_q;
  generate
    for (lane = 0; lane < SYN_LANES; lane = lane + 1) begin : banks
      wire [LG-1:0] lane_id = lane;
      // the weight lane landing here (only a conv row's lines are rotated)
      wire [LG-1:0] from = HAS_CONV != 0 ? lane_id - ev_rot_s : lane_id;
      wire [CA+DB-1:0] delayed = {{DB{1'b0}}, ev_line_s} + {{CA{1'b0}}, d_s[lane*DB+:DB]};
      wire [CA-1:0] addr_2 = l_delay ? delayed[CA-1:0] :
          ev_line_s + (HAS_CONV != 0 && lane_id < ev_rot_s ? 1'b1 : 1'b0);
      reg signed [WEIGHT_BITS-1:0] weight_3, weight_4;
      reg takes_3, takes_4;
      reg [CA-1:0] addr_3, addr_4;
      reg [ACC_W-1:0] mem[0:ACC_CAP-1];
      reg [ACC_W-1:0] q, sum_4;
      // the sum written: stage 4's registers, or (lean) stage 3's and the bank's read word
      wire signed [WEIGHT_BITS-1:0] weight_w = LEAN != 0 ? weight_3 : weight_4;
      wire takes_w = LEAN != 0 ? takes_3 : takes_4;
      wire [CA-1:0] addr_w = LEAN != 0 ? addr_3 : addr_4;
      wire [ACC_W-1:0] sum_w = LEAN != 0 ? q : sum_4;
      integer a;
      initial for (a = 0; a < ACC_CAP; a = a + 1) mem[a] = {ACC_W{1'b0}};
      // Each stage moves only while it holds a line (or, for the read, a neuron's line in
      // UPDATE): the simulation skips an idle bank's work.
      always @(posedge clk) begin
        // one write port and one read port: a cleared line or a line's sum; a row's line or
        // the updated neuron's
        if (up_clr[2] || ev_write && takes_w)
          mem[up_clr[2] ? up_cl[2] : addr_w] <= up_clr[2] ? {ACC_W{1'b0}} :
              sum_w + {{(ACC_W - WEIGHT_BITS) {weight_w[WEIGHT_BITS-1]}}, weight_w};
        if (ev_read || phase == UPDATE) q <= mem[ev_read ? addr_2 : acc_line];
        if (ev_read) begin
          weight_3 <= w_s[from*WEIGHT_BITS+:WEIGHT_BITS];
          takes_3 <= ev_full_s || from < ev_rem_s;
          addr_3 <= addr_2;
        end
        if (ev_valid[3] && LEAN == 0) begin
          weight_4 <= weight_3;
          takes_4 <= takes_3;
          addr_4 <= addr_3;
          sum_4 <= q;
        end
      end
      assign acc_q[lane*ACC_W+:ACC_W] = q;
    end
  endgenerate
  // The synapse engine's scan: the inputs of spike word scan_word that spiked and are not yet
  // taken (scan_pending, a register, so its lowest set bit is isolated by a carry chain and
  // encoded with nothing in front). Lean: scan_pending shifts down a bit a cycle, scan_bit
  // its bit 0's place in the word (no carry chain and encoder; a cycle per bit passed).
  reg [31:0] scan_word, scan_pending;
  reg [4:0] scan_bit;
  reg [CW-1:0] scan_left;  // spike words of the layer's input from scan_word on, itself included
  wire [31:0] scan_low = scan_pending & (~scan_pending + 32'd1);
  wire [4:0] scan_first;
  genvar bit_k;
  generate
    for (bit_k = 0; bit_k < 5; bit_k = bit_k + 1) begin : encode
      wire [31:0] with_bit;
      genvar m;
      for (m = 0; m < 32; m = m + 1) begin : select
        assign with_bit[m] = ((m >> bit_k) & 1) != 0 ? scan_low[m] : 1'b0;
      end
      assign scan_first[bit_k] = |with_bit;
    end
  endgenerate
  wire [31:0] scan_index = {scan_word[26:0], scan_first};
  // The next spike, found while the current one's rows (or conv taps) run: the finder takes
  // the lowest untaken input of the scan (a cycle per spike word without one); a Dense or
  // delay layer's row address follows, i * stride and then the bases, a cycle each
  // (NX_MUL, NX_BASE), so a row of 4 lines or more follows the last with no gap. NX_READY
  // holds it until the engine takes it; NX_DONE: the layer's spikes are all taken.
  localparam [2:0] NX_FIND = 3'd0, NX_MUL = 3'd1, NX_BASE = 3'd2, NX_READY = 3'd3,
      NX_DONE = 3'd4;
  reg [2:0] nx_st;
  reg [CW-1:0] nx_i, nx_off, nx_row, nx_drow;
  // a Dense or delay row starts: from SCAN, or straight after the last line of the previous
  wire take_row = !l_conv && nx_st == NX_READY && (phase == SCAN || phase == ROW && row_last);

  assign n_wb = up_valid[DEPTH];
  assign p_wb = up_pw[3];
  assign n_read = phase == UPDATE || phase == SOUT_REQ || phase == SOUT_WAIT;
  assign p_read = n_read || phase == GAP;
  // Write and read ports, by phase: a group of lanes at a first address (a state or bias
  // word arriving: lane 0).
  always @* begin
    bias_we = 1'b0;
    u_wm = {LL{1'b0}};
    v_wm = {LL{1'b0}};
    p_wm = {LL{1'b0}};
    bias_wd = m_rdata[12:0];
    b_wa = sec_index[NA-1:0];
    n_wa = idx[NA-1:0];
    p_wa = idx[PA-1:0];
    n_ra = (phase == UPDATE) ? nbase[NA-1:0] + j[NA-1:0] : sout_ra[NA-1:0];
    p_ra = (phase == UPDATE) ? p_ptr[PA-1:0] + group[PA-1:0] :
        ((phase == GAP) ? p_base[PA-1:0] : sout_ra[PA-1:0]);
    if (phase == LOAD_WAIT && m_rvalid) begin
      bias_we = section == 2'd1;
    end
    if (phase == SIN_WAIT && m_rvalid) begin
      u_wm[0] = region == 2'd0;
      v_wm[0] = region == 2'd1;
      p_wm[0] = region == 2'd2;
    end
    if (up_pw[3]) begin
      p_wm = up_lm[3];
      p_wa = up_pa[3];
    end
    if (up_valid[DEPTH]) begin
      u_wm = up_lm[DEPTH];
      v_wm = up_lm[DEPTH];
      n_wa = up_n[DEPTH];
    end
  end

  // The pipelines' datapath, no reset: a stage moves while it holds an element (the
  // simulation, which evaluates every block every cycle, skips an idle stage's arithmetic;
  // synthesis gives its registers a clock enable).
  integer st;
  always @(posedge clk) begin
    for (st = DEPTH; st > 1; st = st - 1)
      if (up_valid[st-1]) begin
        up_n[st] <= up_n[st-1];
        up_j[st] <= up_j[st-1];
      end
    up_n[1] <= n_ra;  // what stage 0 issues, in the UPDATE phase
    up_j[1] <= j[XA-1:0];
    n_ra_1 <= n_ra;
    p_ra_1 <= p_ra;
    up_pa[1] <= p_ptr[PA-1:0];
    up_pa[2] <= up_pa[1];
    up_pa[3] <= up_pa[2];
    up_cl[1] <= acc_line;
    up_cl[2] <= up_cl[1];
    if (phase == ROW) begin
      ev_line_1 <= l_delay ? jd[CA-1:0] : acc_base[CA+LG-1:LG] + j[CA-1:0];
      ev_rot_1 <= acc_base[LG-1:0];
      ev_full_1 <= rem >= SYN_LANES;
      ev_rem_1 <= rem[LG-1:0];
    end
    if (ev_valid[1]) begin
      ev_line_2 <= ev_line_1;
      ev_rot_2 <= ev_rot_1;
      ev_full_2 <= ev_full_1;
      ev_rem_2 <= ev_rem_1;
      w_2 <= w_q;
      d_2 <= d_q;
    end
  end

  // stage 2: this step's activation of the column read, kept for later steps. Dense and delay
  // layers: the mantissas' sum doubled and shifted; a conv: its sum shifted left and wrapped
  // into 24 bits. (A function, so the simulation computes it only where a lane takes it.)
  function automatic signed [A_W-1:0] activation(input signed [ACC_W-1:0] acc,
                                                 input signed [4:0] wexp, input conv);
    reg signed [ACT_W-1:0] doubled, dense, shifted;
    begin
      doubled = {{(ACT_W - ACC_W) {acc[ACC_W-1]}}, acc} <<< `SNAP_WEIGHT_SHIFT;
      dense = wexp[4] ? (doubled >>> (-wexp)) : (doubled <<< wexp);
      shifted = {{(ACT_W - ACC_W) {acc[ACC_W-1]}}, acc} <<< wexp[2:0];
      activation = conv ? {{(A_W - 24) {shifted[23]}}, shifted[23:0]} : dense[A_W-1:0];
    end
  endfunction

  // The LIF update's lanes: lane i updates neuron j + i of the group issued, one stage a
  // cycle, while the stage holds a group (a lane past the layer's last neuron, or above lane
  // 0 in a delay layer, computes what is not written).
  generate
    for (lane = 0; lane < LL; lane = lane + 1) begin : lif_lanes
      wire [31:0] lane_id = lane;
      // which bank holds this lane's words of the group read a cycle ago (computed in the
      // block that takes them)
      reg [31:0] n_bank, p_bank;
      // stage 2: the block RAMs' words, registered (lane 0's also as the state goes out)
      reg signed [U_W-1:0] u_2;
      reg signed [V_W-1:0] v_2;
      reg signed [A_W-1:0] p_2;
      reg signed [12:0] bias_2;
      reg signed [ACC_W-1:0] acc_2;  // the updated neuron's accumulator
      reg signed [A_W-1:0] arrived;  // the activation arriving at the neuron being issued
      // stage 3: the pending column written; the decay products in 17-bit pieces (one 18x18
      // multiplier each); the shifts
      reg signed [A_W-1:0] p_next_3, act_3;
      reg signed [31:0] u_lo_3, u_mid_3, u_hi_3, v_lo_3, v_hi_3;
      reg signed [U_W-1:0] arrived_3, arrived_4, arrived_5;
      reg signed [U_W+1:0] bias_3, bias_4, bias_5;
      // stages 4-9: products summed, rounded, u wrapped, v summed, clipped, compared
      reg signed [PROD_W-1:0] u_prod_4, v_prod_4, u_dec_5, v_dec_5;
      reg signed [U_W+1:0] u_sum_6, v_part_6, u_new_7, v_part_7, u_new_8, u_new_9;
      reg signed [U_W+2:0] v_sum_8, v_clip_9;
      // stage 10: the words written back and the spike
      reg [U_W-1:0] u_out_10;
      integer k;
      reg [V_W-1:0] v_out_10;
      reg fired_10;
      always @(posedge clk) begin
        if (up_valid[1] || lane == 0 && sout_load) begin
          n_bank = ({{(32 - NA) {1'b0}}, n_ra_1} + lane_id) % LL;
          for (k = 0; k < LL; k = k + 1)
            if (n_bank[LGI-1:0] == k) begin
              u_2 <= u_q[k*U_W+:U_W];
              v_2 <= v_q[k*V_W+:V_W];
            end
          bias_2 <= bias_q[lane*13+:13];
        end
        if (up_pw[1] || up_cap[1] || lane == 0 && sout_load) begin
          p_bank = ({{(32 - PA) {1'b0}}, p_ra_1} + lane_id) % LL;
          for (k = 0; k < LL; k = k + 1) if (p_bank[LGI-1:0] == k) p_2 <= p_q[k*A_W+:A_W];
        end
        // its accumulator: the group lies in one line
        if (up_pw[1]) acc_2 <= acc_q[(up_j[1][LG-1:0]+lane_id[LG-1:0])*ACC_W+:ACC_W];
        if (up_cap[2]) arrived <= p_2;
        if (up_pw[2]) begin
          p_next_3 <= up_cap[2] ? {A_W{1'b0}} : p_2;
          act_3 <= activation(acc_2, l_wexp, l_conv);
        end
        if (up_valid[2]) begin
          u_lo_3 <= $signed({1'b0, u_2[16:0]}) * u_factor;
          u_mid_3 <= $signed({1'b0, u_2[33:17]}) * u_factor;
          u_hi_3 <= $signed(u_2[U_W-1:34]) * u_factor;
          v_lo_3 <= $signed({1'b0, v_2[16:0]}) * v_factor;
          v_hi_3 <= $signed(v_2[V_W-1:17]) * v_factor;
          arrived_3 <= {{(U_W - A_W - 6) {arrived[A_W-1]}}, arrived, 6'd0};
          bias_3 <= {{(U_W + 2 - 13) {bias_2[12]}}, bias_2} <<< l_bexp;
        end
        if (up_valid[3]) begin
          u_prod_4 <= ($signed(u_hi_3) <<< 34) + ($signed(u_mid_3) <<< 17) + u_lo_3;
          v_prod_4 <= ($signed(v_hi_3) <<< 17) + v_lo_3;
          arrived_4 <= arrived_3;
          bias_4 <= bias_3;
        end
        if (up_valid[4]) begin  // decay rounded toward zero
          u_dec_5 <= (u_prod_4 + (u_prod_4[PROD_W-1] ? 4095 : 0)) >>> 12;
          v_dec_5 <= (v_prod_4 + (v_prod_4[PROD_W-1] ? 4095 : 0)) >>> 12;
          arrived_5 <= arrived_4;
          bias_5 <= bias_4;
        end
        if (up_valid[5]) begin
          u_sum_6 <= $signed(u_dec_5[U_W+1:0]) + arrived_5;
          v_part_6 <= $signed(v_dec_5[U_W+1:0]) + bias_5;
        end
        if (up_valid[6]) begin  // Lava's single correction into 24 bits (not a modulo)
          u_new_7 <= u_sum_6 > STATE_LIMIT ? u_sum_6 - WRAP :
              (u_sum_6 <= -STATE_LIMIT ? u_sum_6 + WRAP : u_sum_6);
          v_part_7 <= v_part_6;
        end
        if (up_valid[7]) begin
          v_sum_8 <= v_part_7 + u_new_7;
          u_new_8 <= u_new_7;
        end
        if (up_valid[8]) begin
          v_clip_9 <= v_sum_8 > V_MAX ? V_MAX : (v_sum_8 < -V_MAX ? -V_MAX : v_sum_8);
          u_new_9 <= u_new_8;
        end
        if (up_valid[9]) begin  // the spike: v reset to 0, or less vth << 6 (in 24 bits)
          fired_10 <= v_clip_9 > threshold_9;
          v_out_10 <= v_clip_9 <= threshold_9 ? v_clip_9[V_W-1:0] :
              (l_subtract ? v_clip_9[V_W-1:0] - threshold_9[V_W-1:0] : {V_W{1'b0}});
          u_out_10 <= u_new_9[U_W-1:0];
        end
      end
      assign lane_u[lane*U_W+:U_W] = u_out_10;
      assign lane_v[lane*V_W+:V_W] = v_out_10;
      assign lane_p[lane*A_W+:A_W] = p_next_3 + act_3;
      assign lane_fired[lane] = fired_10;
      if (lane == 0) begin : state_out
        assign sout_u = u_2;
        assign sout_v = v_2;
        assign sout_p = p_2;
      end
    end
  endgenerate

  always @(posedge clk) begin
    if (!rst_n) begin
      phase <= IDLE;
      m_valid <= 1'b0;
      ev_valid <= 4'b0;
      up_valid <= {DEPTH{1'b0}};
      up_pw <= 3'b0;
      up_cap <= 2'b0;
      up_clr <= 2'b0;
      nx_st <= NX_DONE;
      lf_held <= 1'b0;
      w_we <= 1'b0;
      d_we <= 1'b0;
      for (sw = 0; sw < SPIKE_WORDS; sw = sw + 1) begin
        spikes[sw] <= 32'd0;
        next_spikes[sw] <= 32'd0;
      end
    end else begin
      if (m_valid && m_ready) m_valid <= 1'b0;
      w_we <= 1'b0;
      d_we <= 1'b0;
      ev_valid <= {ev_valid[3:1], 1'b0};
      up_valid <= {up_valid[DEPTH-1:1], 1'b0};
      up_pw <= {up_pw[2:1], 1'b0};
      up_cap <= {up_cap[1], 1'b0};
      up_clr <= {up_clr[1], 1'b0};
      for (ln = DEPTH; ln > 1; ln = ln - 1) up_lm[ln] <= up_lm[ln-1];
      // A group's spikes: lean, over the layer's input (its rows are done: the finder is idle
      // from GAP on), a word's first group clearing the rest of its word; the whole word is
      // written, so its flip-flops share one enable (an iCE40 logic block's eight cells share
      // theirs: a bit's own enable would leave the other seven cells' flip-flops unused)
      if (LEAN == 0) begin
        for (ln = 0; ln < LL; ln = ln + 1)  // lane ln's neuron is j + ln of its group
          if (up_valid[DEPTH] && up_lm[DEPTH][ln])
            next_spikes[up_j[DEPTH][XA-1:5]][up_j[DEPTH][4:0]+ln[4:0]] <= lane_fired[ln];
      end else if (up_valid[DEPTH])
        spikes[up_j[DEPTH][XA-1:5]] <= (up_j[DEPTH][4:0] == 5'd0 ? 32'd0 :
            spikes[up_j[DEPTH][XA-1:5]]) | group_spikes;
      if (sout_age != 2'd2) sout_age <= sout_age == 2'd3 ? 2'd2 : sout_age + 2'd1;
      // Lean: a pointer register written is the running pointer itself (no copy at ap_start;
      // the driver writes every pointer a run uses before its ap_start, while the core idles)
      if (LEAN != 0 && write_now)
        case (s_axi_awaddr)
          `SNAP_REG_SPIKES_IN: in_ptr[31:0] <= s_axi_wdata & PTR_LOW;
          `SNAP_REG_SPIKES_IN + 4: in_ptr[63:32] <= s_axi_wdata & PTR_HIGH;
          `SNAP_REG_SPIKES_OUT: out_ptr[31:0] <= s_axi_wdata & PTR_LOW;
          `SNAP_REG_SPIKES_OUT + 4: out_ptr[63:32] <= s_axi_wdata & PTR_HIGH;
          `SNAP_REG_STATE: item_ptr[31:0] <= s_axi_wdata & PTR_LOW;
          `SNAP_REG_STATE + 4: item_ptr[63:32] <= s_axi_wdata & PTR_HIGH;
          `SNAP_REG_PARAMS: param_ptr[31:0] <= s_axi_wdata & PTR_LOW;
          `SNAP_REG_PARAMS + 4: param_ptr[63:32] <= s_axi_wdata & PTR_HIGH;
          default: ;
        endcase
      case (nx_st)  // the finder
        NX_FIND:
        if (scan_pending != 32'd0) begin
          if (LEAN == 0) begin
            nx_i <= scan_index;
            scan_pending <= scan_pending & ~scan_low;
            nx_st <= l_conv ? NX_READY : NX_MUL;
          end else begin
            scan_pending <= scan_pending >> 1;
            scan_bit <= scan_bit + 5'd1;
            if (scan_pending[0]) begin
              nx_i <= {scan_word[26:0], scan_bit};
              nx_st <= l_conv ? NX_READY : NX_MUL;
            end
          end
        end else if (scan_last) nx_st <= NX_DONE;
        else begin
          scan_bit <= 5'd0;
          scan_word <= scan_word + 32'd1;
          scan_left <= scan_left - 32'd1;
          scan_last <= scan_left == 32'd2;
          scan_pending <= spikes[scan_word[WW-1:0]+1'b1];
        end
        NX_MUL: begin
          nx_off <= nx_i[XA-1:0] * stride[XA-LG:0];
          nx_st <= NX_BASE;
        end
        NX_BASE: begin
          nx_row <= w_base + nx_off;
          nx_drow <= d_base + nx_off;
          nx_st <= NX_READY;
        end
        default: ;
      endcase
      case (phase)
        IDLE:
        if (ap_start) begin
          steps_arg <= reg_steps;
          batch_arg <= reg_batch;
          if (LEAN == 0) begin
            in_ptr <= {reg_spikes_in[1], reg_spikes_in[0]};
            out_ptr <= {reg_spikes_out[1], reg_spikes_out[0]};
            item_ptr <= {reg_state[1], reg_state[0]};
            param_ptr <= {reg_params[1], reg_params[0]};
          end
          b <= LEAN != 0 ? reg_batch : 32'd0;
          items_done <= reg_batch == 32'd0;
          section <= 2'd0;
          sec_index <= 32'd0;
          image_left <= image_words;
          image_done <= image_words == 32'd0;
          ld_block <= {LA{1'b0}};
          ld_rows_left <= table_blocks[0];
          ld_left <= table_blocks[1];
          ld_block_last <= table_blocks[0] == 32'd1;
          ld_row_last <= table_blocks[1] == 32'd1;
          ld_line <= 32'd0;
          ld_lane <= {LG{1'b0}};
          ld_fresh <= 1'b1;
          phase <= reg_load != 0 ? LOAD_REQ : ITEM;
        end
        LOAD_REQ:
        if (image_done) phase <= ITEM;
        else begin
          m_valid <= 1'b1;
          m_write <= 1'b0;
          m_wide <= 1'b0;
          m_addr <= param_ptr;
          m_wdata <= 64'd0;
          phase <= LOAD_WAIT;
        end
        LOAD_WAIT:
        if (m_rvalid) begin
          param_ptr <= param_ptr + 4;
          image_left <= image_left - 1;
          image_done <= image_left == 32'd1;
          if (image_left == 32'd1) phase <= ITEM;
          else begin  // the next word's read goes out as this one arrives
            m_valid <= 1'b1;
            m_addr <= param_ptr + 4;
          end
          sec_index <= sec_index + 1;
          if (section[1]) begin  // the next weight's (or delay's) place: lane, line, row, block
            ld_lane <= ld_lane + 1'b1;
            ld_left <= ld_left - 1;
            ld_row_last <= ld_left == 32'd2;
            // (computed here, not as a wire: the simulation then shifts only as weights come)
            ld_buffer <= (ld_fresh ? {LD_LINE{1'b0}} : ld_buffer) |
                ({{(LD_LINE - LD_W) {1'b0}}, m_rdata[LD_W-1:0]} << (ld_lane * LD_W));
            ld_fresh <= ld_line_end;
            if (ld_line_end) begin
              ld_wa <= ld_line;
              w_we <= section == 2'd2;
              d_we <= section == 2'd3;
            end
            if (&ld_lane) ld_line <= ld_line + 1;
            if (ld_row_last) begin  // the row's last weight
              ld_lane <= {LG{1'b0}};
              ld_left <= ld_len;
              ld_row_last <= ld_len == 32'd1;
              ld_line <= ld_line + 1;
              ld_rows_left <= ld_rows_left - 1;
              ld_block_last <= ld_rows_left == 32'd2;
              if (ld_block_last) begin
                ld_block <= ld_block + 1'b1;
                ld_left <= ld_next_len;
                ld_row_last <= ld_next_len == 32'd1;
                ld_rows_left <= ld_next_rows;
                ld_block_last <= ld_next_rows == 32'd1;
              end
            end
          end
          if (section == 2'd0) cfg_mem[sec_index[$clog2(CFG_WORDS)-1:0]] <= m_rdata[16:0];
          if (section == 2'd0 && sec_index + 1 == config_words ||
              section == 2'd1 && sec_index + 1 == n_neurons ||
              section == 2'd2 && sec_index + 1 == n_weights) begin
            section <= section + 2'd1;
            sec_index <= 32'd0;
            if (section == 2'd2) ld_line <= 32'd0;  // the delays fill their own memory
          end
        end
        ITEM:
        if (items_done) phase <= FINISH;
        else begin
          s_ptr <= item_ptr;
          region <= 2'd0;
          idx <= 32'd0;
          idx_last <= n_neurons == 32'd1;
          phase <= SIN_REQ;
        end
        SIN_REQ: begin
          m_valid <= 1'b1;
          m_write <= 1'b0;
          m_wide <= 1'b1;
          m_addr <= s_ptr;
          m_wdata <= 64'd0;
          phase <= SIN_WAIT;
        end
        SIN_WAIT:
        if (m_rvalid) begin
          s_ptr <= s_ptr + 8;
          m_valid <= 1'b1;  // the next word's read, unless this was the item's last
          m_addr <= s_ptr + 8;
          idx <= idx + 1;
          idx_last <= idx + 2 == region_words;
          if (idx_last) begin
            region <= region + 2'd1;
            idx <= 32'd0;
            idx_last <= next_region_words == 32'd1;
          end
          if (idx_last && region == 2'd2) begin
            m_valid <= 1'b0;
            t_step <= LEAN != 0 ? steps : 32'd0;
            steps_done <= steps == 32'd0;
            phase <= STEP;
          end
        end
        STEP:
        if (steps_done) begin
          s_ptr <= item_ptr;
          region <= 2'd0;
          idx <= 32'd0;
          idx_last <= n_neurons == 32'd1;
          idx_succ <= n_neurons == 32'd1 ? 32'd0 : 32'd1;
          sout_age <= 2'd0;
          phase <= SOUT_REQ;
        end else begin
          word <= 32'd0;
          word_last <= in_words == 32'd1;
          phase <= UNPACK_REQ;
        end
        UNPACK_REQ: begin
          m_valid <= 1'b1;
          m_write <= 1'b0;
          m_wide <= 1'b0;
          m_addr <= in_ptr;
          m_wdata <= 64'd0;
          phase <= UNPACK_WAIT;
        end
        UNPACK_WAIT:
        if (m_rvalid) begin
          spikes[word[WW-1:0]] <= m_rdata[31:0];
          in_ptr <= in_ptr + 4;
          word <= word + 1;
          word_last <= word + 2 == in_words;
          if (word_last) begin
            layer <= {LA{1'b0}};
            cfg_base <= 8'd0;
            f <= {(FA + 1) {1'b0}};
            phase <= LAYER;
          end else begin  // the next word's read goes out as this one arrives
            m_valid <= 1'b1;
            m_addr <= in_ptr + 4;
          end
        end
        LAYER:  // the layer's fields, one a cycle (lt_q is field f - 1), unless lf holds them
        if (lf_held && lf_layer == layer && LEAN == 0) phase <= LAYER_SETUP;
        else begin
          if (f != 0) lf[f-1] <= f > `SNAP_DENSE_FIELDS ? lt_q : lt_q & FIELD_MASK;
          if (LEAN != 0)
            case (f)
              1: l_wexp <= cfg_q[4:0];
              2: u_factor <= {2'b0, 12'd4095 - cfg_q[11:0]};
              3: v_factor <= {1'b0, 13'd4096 - {1'b0, cfg_q[11:0]}};
              4: l_vth <= cfg_q[16:0];
              5: l_bexp <= cfg_q[2:0];
              6: l_subtract <= cfg_q[0];
              default: ;
            endcase
          f <= f + 1'b1;
          if (f == FIELDS || f == `SNAP_DENSE_FIELDS && !l_conv) begin
            lf_held <= 1'b1;
            lf_layer <= layer;
            phase <= LAYER_SETUP;
          end
        end
        LAYER_SETUP: begin
          if (LEAN == 0) begin
            l_wexp <= cfg_mem[cfg_base][4:0];
            u_factor <= {2'b0, 12'd4095 - cfg_mem[cfg_base+1][11:0]};
            v_factor <= {1'b0, 13'd4096 - {1'b0, cfg_mem[cfg_base+2][11:0]}};
            l_vth <= cfg_mem[cfg_base+3][16:0];
            l_bexp <= cfg_mem[cfg_base+4][2:0];
            l_subtract <= cfg_mem[cfg_base+5][0];
          end
          x_back <= lf[`SNAP_F_SX][NB-1:0] - lf[`SNAP_F_DXR][NB-1:0];
          y_back <= lf[`SNAP_F_SY][NB-1:0] - lf[`SNAP_F_DYR][NB-1:0];
          scan_word <= 32'd0;
          scan_left <= (n_in + 32'd31) >> 5;
          scan_last <= n_in <= 32'd32;
          scan_pending <= spikes[0];
          scan_bit <= 5'd0;
          nx_st <= NX_FIND;
          phase <= SCAN;
        end
        SCAN:  // until the finder has the next spike (a Dense row is taken by take_row)
        if (nx_st == NX_DONE) phase <= GAP;
        else if (nx_st == NX_READY && l_conv) begin
          dv_n <= nx_i[NB-1:0];
          dv_step <= 3'd0;
          nx_st <= NX_FIND;
          phase <= CV_MUL;
        end
        CV_MUL: if (HAS_CONV != 0) begin
          dv_p <= dv_n * dv_m[NB:0];
          phase <= CV_SHIFT;
        end
        CV_SHIFT: if (HAS_CONV != 0) begin
          dv_q <= dv_p >> dv_k[5:0];
          phase <= CV_QD;
        end
        CV_QD: if (HAS_CONV != 0) begin
          dv_qd <= dv_q * dv_d[NB-1:0];
          phase <= CV_REM;
        end
        CV_REM: if (HAS_CONV != 0) begin  // dv_q = dv_n / d and dv_r its remainder
          dv_step <= dv_step + 3'd1;
          phase <= CV_MUL;
          case (dv_step)
            3'd0: begin  // the index by C: position, channel
              cv_q1 <= dv_q;
              cv_c <= dv_r;
              dv_n <= dv_r;
            end
            3'd1: begin  // the channel by C / groups: its group's first output channel
              cv_gog <= dv_q * row_len;
              dv_n <= cv_q1;
            end
            3'd2: begin  // the position by Y: x, y
              cv_y <= dv_r;
              dv_n <= dv_q + lf[`SNAP_F_PX][NB-1:0];
            end
            3'd3: begin  // x + px by sx: the first tap's output x
              xo_x <= $signed({2'b0, dv_q});
              xr_x <= dv_r;
              dv_n <= cv_y + lf[`SNAP_F_PY][NB-1:0];
            end
            default: begin  // y + py by sy: the first tap's output y; the taps begin
              yo_y <= $signed({2'b0, dv_q});
              yr_y <= dv_r;
              yo_0 <= $signed({2'b0, dv_q});
              yr_0 <= dv_r;
              tx <= 16'd0;
              ty <= 16'd0;
              tx_last <= lf[`SNAP_F_KX][15:0] == 16'd1;
              ty_last <= lf[`SNAP_F_KY][15:0] == 16'd1;
              row_c <= {{(32 - NB) {1'b0}}, cv_c};
              taps_done <= 1'b0;
              phase <= TAP;
            end
          endcase
        end
        TAP:  // one cycle per kernel tap; a tap that lands takes its row
        if (taps_done || HAS_CONV == 0) phase <= SCAN;
        else begin
          if (tap_lands) begin
            tap_px <= xo_x[NB:0] * lf[`SNAP_F_YOCO][NB:0];
            tap_py <= yo_y[NB:0] * lf[`SNAP_F_CO][NB:0];
            row_offset <= row_c * stride;
            phase <= TAP_BASE;
          end
          row_c <= row_c + lf[`SNAP_F_C];
          ty_last <= ty + 16'd2 == lf[`SNAP_F_KY][15:0];
          if (ty_last) begin
            ty <= 16'd0;
            ty_last <= lf[`SNAP_F_KY][15:0] == 16'd1;
            yo_y <= yo_0;
            yr_y <= yr_0;
            if (tx_last) taps_done <= 1'b1;
            else begin
              tx_last <= tx + 16'd2 == lf[`SNAP_F_KX][15:0];
              tx <= tx + 1'b1;
              xo_x <= x_next_o;
              xr_x <= x_next_r;
            end
          end else begin
            ty <= ty + 1'b1;
            yo_y <= y_next_o;
            yr_y <= y_next_r;
          end
        end
        TAP_BASE: if (HAS_CONV != 0) begin
          acc_base <= tap_px[CA+LG-1:0] + tap_py[CA+LG-1:0] + cv_gog[CA+LG-1:0];
          row_ptr <= w_base + row_offset;
          j <= 32'd0;
          jd <= 32'd0;
          rem <= row_len;
          row_last <= stride == 32'd1;
          phase <= ROW;
        end
        ROW: begin  // one line of SYN_LANES weights per cycle
          ev_valid[1] <= 1'b1;
          j <= j + 1;
          jd <= jd + depth;
          rem <= rem - SYN_LANES;
          row_last <= j + 2 == stride;
          if (row_last) phase <= l_conv ? TAP : (nx_st == NX_DONE ? GAP : SCAN);
        end
        GAP:  // until the last row's sums are written; the first neuron's arrival is read
        if (ev_valid == 4'b0) begin
          up_cap[1] <= 1'b1;
          j <= 32'd0;
          k_col <= 32'd0;
          p_ptr <= p_base;
          acc_line <= {CA{1'b0}};
          line_base <= {CA{1'b0}};
          col_last <= depth == 32'd1;
          nrn_last <= no <= group;
          phase <= UPDATE;
        end
        UPDATE: begin  // column k_col of neurons j on (a group); the LIF update with column 0
          for (ln = 0; ln < LL; ln = ln + 1)  // the group's lanes inside the layer
            up_lm[1][ln] <= ln == 0 || l_group && j + ln < no;
          up_valid[1] <= k_col == 0;
          up_pw[1] <= 1'b1;
          up_cap[1] <= col_last;
          up_clr[1] <= lane_end;
          p_ptr <= p_ptr + group;
          if (col_last) begin
            k_col <= 32'd0;
            j <= j + group;
            col_last <= depth == 32'd1;
            nrn_last <= j + 2 * group >= no;
            acc_line <= lane_end ? acc_line + 1'b1 : line_base;
            if (lane_end) line_base <= acc_line + 1'b1;
            if (nrn_last) begin
              drain <= 4'd1;
              phase <= DRAIN;
            end
          end else begin
            k_col <= k_col + 1;
            col_last <= k_col + 2 == depth;
            acc_line <= acc_line + 1'b1;
          end
        end
        DRAIN:  // until the layer's last neuron is written back and its spike set
        if (drain == DEPTH) phase <= NEXT_LAYER;
        else drain <= drain + 4'd1;
        NEXT_LAYER: begin
          if (LEAN == 0)
            for (sw = 0; sw < SPIKE_WORDS; sw = sw + 1) begin
              spikes[sw] <= next_spikes[sw];
              next_spikes[sw] <= 32'd0;
            end
          layer <= layer + 1'b1;
          cfg_base <= cfg_base + `SNAP_IMAGE_LAYER_WORDS;
          f <= {(FA + 1) {1'b0}};
          if (layer + 1'b1 == n_layers[LA-1:0]) begin
            word <= 32'd0;
            word_last <= out_words == 32'd1;
            phase <= PACK_REQ;
          end else phase <= LAYER;
        end
        PACK_REQ: begin
          m_valid <= 1'b1;
          m_write <= 1'b1;
          m_wide <= 1'b0;
          m_addr <= out_ptr;
          m_wdata <= {32'd0, spikes[word[WW-1:0]]};
          phase <= PACK_WAIT;
        end
        PACK_WAIT:
        if (m_rvalid) begin
          out_ptr <= out_ptr + 4;
          word <= word + 1;
          word_last <= word + 2 == out_words;
          if (word_last) begin
            t_step <= LEAN != 0 ? t_step - 1 : t_step + 1;
            steps_done <= LEAN != 0 ? t_step == 32'd1 : t_step + 1 == steps;
            phase <= STEP;
          end else begin  // the next word's write goes out as this one is acknowledged
            m_valid <= 1'b1;
            m_addr <= out_ptr + 4;
            m_wdata <= {32'd0, spikes[word[WW-1:0]+1'b1]};
          end
        end
        SOUT_REQ: ;  // until word idx of region is out of its RAM and registered (sout_issue)
        SOUT_WAIT:
        if (m_rvalid) begin  // (the next word goes out now where sout_issue says so)
          if (sout_last) begin
            item_ptr <= s_ptr;
            b <= LEAN != 0 ? b - 1 : b + 1;
            items_done <= LEAN != 0 ? b == 32'd1 : b + 1 == batch;
            phase <= ITEM;
          end else if (sout_age != 2'd2) phase <= SOUT_REQ;
        end
        FINISH: phase <= IDLE;
        default: phase <= IDLE;
      endcase
      if (sout_issue) begin  // state word idx of region goes out
        m_valid <= 1'b1;
        m_write <= 1'b1;
        m_wide <= 1'b1;
        m_addr <= s_ptr;
        m_wdata <= region == 2'd0 ? {{(64 - U_W) {sout_u[U_W-1]}}, sout_u} :
            (region == 2'd1 ? {{(64 - V_W) {sout_v[V_W-1]}}, sout_v} :
            {{(64 - A_W) {sout_p[A_W-1]}}, sout_p});
        s_ptr <= s_ptr + 8;
        sout_age <= 2'd3;
        sout_last <= idx_last && region == 2'd2;
        idx <= idx_succ;
        idx_last <= idx + 2 == region_words;
        idx_succ <= idx + 2 == region_words ? 32'd0 : idx + 32'd2;
        if (idx_last) begin
          region <= region + 2'd1;
          idx_last <= next_region_words == 32'd1;
          idx_succ <= next_region_words == 32'd1 ? 32'd0 : 32'd1;
        end
        phase <= SOUT_WAIT;
      end
      if (take_row) begin  // the found spike's row: its first line, a line a cycle in ROW
        row_ptr <= nx_row;
        drow_ptr <= nx_drow;
        acc_base <= {(CA + LG) {1'b0}};
        j <= 32'd0;
        jd <= 32'd0;
        rem <= row_len;
        row_last <= stride == 32'd1;
        nx_st <= NX_FIND;
        phase <= ROW;
      end
    end
  end
endmodule

// One bank of a LIF state memory (u, v or the pending activations) of LL banks: word a lies in
// bank a % LL at row a / LL, so a group of LL consecutive words starting at word A meets
// every bank once, this bank holding its lane (BANK - A) mod LL at word A + that lane.
// A write takes the group's lanes in mask wm: the LIF update's results where wb, else the
// state word arriving (lane 0); a read registers the bank's word of the group at ra in q.
module lif_state_bank #(
    parameter integer W = 1,  // bits of a word
    parameter integer AW = 1,  // bits of a word's address in the whole memory
    parameter integer ROWS = 1,  // words in this bank
    parameter integer LL = 1,  // banks (lanes of a group)
    parameter integer BANK = 0
) (
    input clk,
    input [LL-1:0] wm,
    input [AW-1:0] wa,
    input [W-1:0] word_in,
    input wb,
    input [LL*W-1:0] lanes_in,
    input rd,
    input [AW-1:0] ra,
    output reg [W-1:0] q
);
  localparam integer LGL = $clog2(LL);
  localparam integer LGI = LGL > 0 ? LGL : 1;
  wire [31:0] bank_id = BANK;
  reg [W-1:0] mem[0:ROWS-1];
  // Inside the block (so the simulation computes them only for an access): this bank's lane
  // of the group written or read, and its word's address.
  reg [31:0] lane_w, lane_r;
  reg [AW-1:0] addr_w, addr_r;
  reg [W-1:0] din;
  integer k;
  always @(posedge clk) begin
    if (wm != 0) begin
      lane_w = (bank_id - {{(32 - AW) {1'b0}}, wa}) % LL;
      addr_w = wa + lane_w[AW-1:0];
      din = word_in;
      if (wb) for (k = 0; k < LL; k = k + 1) if (lane_w == k) din = lanes_in[k*W+:W];
      if (wm[lane_w[LGI-1:0]]) mem[addr_w[AW-1:LGL]] <= din;
    end
    if (rd) begin
      lane_r = (bank_id - {{(32 - AW) {1'b0}}, ra}) % LL;
      addr_r = ra + lane_r[AW-1:0];
      q <= mem[addr_r[AW-1:LGL]];
    end
  end
endmodule
