// The RTL LIF core: snapdeploy's integer neuron (Lava 0.10.0's fixed_pt LIF behind its Dense
// synapse), its synapse engine SYN_LANES weights wide and its LIF update one neuron per cycle
// from block RAM, behind the AXI-Lite register map and the spike, state and parameter buffers
// of the HLS core, so one driver runs either.
//
// Per layer and time step, all signed integers (DESIGN.md, "The integer neuron"):
//   a_accum = sum of the weight mantissas of the inputs that spiked this step
//   a       = (a_accum << 1) << weight_exp (arithmetic >> when negative)   sent NEXT step
//   u = wrap24(decay(u, du + 1) + (a_prev << 6))     one conditional correction, not modulo
//   v = clip(decay(v, dv) + u + (bias_mant << bias_exp), -(2^23 - 1), 2^23 - 1)
//   spike when v > (vth << 6); then v = 0, or v -= vth << 6 where the layer's reset word is 1
//   (u is not reset)
// with decay(x, d) = sign(x * (4096 - d)) * (|x * (4096 - d)| >> 12).
//
// Widths: every layer is validated to |a| <= 2^24 (core.neuron.ACTIVATION_LIMIT), so a needs
// 26 bits; u is not bounded to 24 bits by Lava's single wrap, but |u| <= 4096 * 2^30 = 2^42
// holds from zero on (|u'| <= max(2^24, |u| * 4095/4096 + 2^30 - 2^24)), so u needs 44.
// v is clipped to 24 bits.
//
// Memory master: one outstanding request (m_valid/m_ready, then m_rvalid with read data or
// a write acknowledge), byte addresses, 4-byte (m_wide = 0) or 8-byte words; spike frames and
// the parameter image are 32-bit words, the state buffer 64-bit words.
`include "lif_params.vh"

module lif_core #(
    parameter integer LAYER_CAP = `SNAP_LAYER_CAP,
    parameter integer NEURON_CAP = `SNAP_NEURON_CAP,
    parameter integer WEIGHT_CAP = `SNAP_WEIGHT_CAP,
    parameter integer WIDTH_CAP = `SNAP_WIDTH_CAP,
    parameter integer WEIGHT_BITS = `SNAP_WEIGHT_BITS,
    parameter integer SYN_LANES = `SNAP_SYN_LANES,
    parameter integer ADDR_BITS = `SNAP_REG_ADDR_BITS
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
  localparam integer U_W = 44;
  localparam integer V_W = 24;
  localparam integer A_W = 26;
  localparam integer ACC_W = $clog2(WIDTH_CAP) + WEIGHT_BITS + 1;
  localparam integer PROD_W = U_W + 14;
  // acc << 1 << 7 and its sign, at least as wide as a stored activation
  localparam integer ACT_W = ACC_W + 9 > A_W ? ACC_W + 9 : A_W;
  localparam integer NA = $clog2(NEURON_CAP);
  localparam integer XA = $clog2(WIDTH_CAP);
  // The synapse engine's lines: SYN_LANES weights (or accumulators) side by side, lane k of a
  // line holding neuron (line * SYN_LANES + k) of a row, each row starting a new line.
  localparam integer LG = $clog2(SYN_LANES);
  localparam integer W_LINES = WEIGHT_CAP / SYN_LANES;
  localparam integer WA = $clog2(W_LINES);
  localparam integer GA = XA - LG;  // bits of a line index within a layer's width
  localparam integer W_LINE = SYN_LANES * WEIGHT_BITS;
  localparam integer ACC_LINE = SYN_LANES * ACC_W;
  localparam integer LA = $clog2(LAYER_CAP) + 1;
  localparam integer TABLE_HEADER = `SNAP_LAYER_TABLE_HEADER;
  localparam integer TABLE_WORDS = `SNAP_LAYER_TABLE_WORDS;
  localparam integer SPIKE_BITS = ((WIDTH_CAP + 31) / 32) * 32;
  localparam integer SPIKE_WORDS = SPIKE_BITS / 32;
  localparam integer WW = SPIKE_WORDS > 1 ? $clog2(SPIKE_WORDS) : 1;  // bits of a word index
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
          `SNAP_REG_SPIKES_IN: reg_spikes_in[0] <= s_axi_wdata;
          `SNAP_REG_SPIKES_IN + 4: reg_spikes_in[1] <= s_axi_wdata;
          `SNAP_REG_SPIKES_OUT: reg_spikes_out[0] <= s_axi_wdata;
          `SNAP_REG_SPIKES_OUT + 4: reg_spikes_out[1] <= s_axi_wdata;
          `SNAP_REG_STATE: reg_state[0] <= s_axi_wdata;
          `SNAP_REG_STATE + 4: reg_state[1] <= s_axi_wdata;
          `SNAP_REG_PARAMS: reg_params[0] <= s_axi_wdata;
          `SNAP_REG_PARAMS + 4: reg_params[1] <= s_axi_wdata;
          `SNAP_REG_STEPS: reg_steps <= s_axi_wdata;
          `SNAP_REG_BATCH: reg_batch <= s_axi_wdata;
          `SNAP_REG_LOAD: reg_load <= s_axi_wdata;
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
          `SNAP_REG_SPIKES_IN: s_axi_rdata <= reg_spikes_in[0];
          `SNAP_REG_SPIKES_IN + 4: s_axi_rdata <= reg_spikes_in[1];
          `SNAP_REG_SPIKES_OUT: s_axi_rdata <= reg_spikes_out[0];
          `SNAP_REG_SPIKES_OUT + 4: s_axi_rdata <= reg_spikes_out[1];
          `SNAP_REG_STATE: s_axi_rdata <= reg_state[0];
          `SNAP_REG_STATE + 4: s_axi_rdata <= reg_state[1];
          `SNAP_REG_PARAMS: s_axi_rdata <= reg_params[0];
          `SNAP_REG_PARAMS + 4: s_axi_rdata <= reg_params[1];
          `SNAP_REG_STEPS: s_axi_rdata <= reg_steps;
          `SNAP_REG_BATCH: s_axi_rdata <= reg_batch;
          `SNAP_REG_LOAD: s_axi_rdata <= reg_load;
          default: s_axi_rdata <= 32'd0;
        endcase
      end
    end
  end

  // ---------------------------------------------------------------- on-chip memories
  // The layer table (sizes and bases of the partition's layers) and each layer's scalars.
  reg [31:0] layer_table[0:TABLE_WORDS-1];
  // Per layer: weight_exp, du, dv, vth, bias_exp, reset (the parameter image's first section).
  localparam integer CFG_WORDS = `SNAP_IMAGE_LAYER_WORDS * LAYER_CAP;
  reg [16:0] cfg_mem[0:CFG_WORDS-1];
`ifdef SNAP_SIM
  // A simulation is built once per capacity and serves every partition of it: the layer
  // table comes from the harness when the model starts (the parameters come, as on a board,
  // through the params port).
  import "DPI-C" function int snap_layer_word(input int index);
  integer t;
  initial for (t = 0; t < TABLE_WORDS; t = t + 1) layer_table[t] = snap_layer_word(t);
`else
  initial begin
    $readmemh(`SNAP_LAYER_TABLE_FILE, layer_table);
    $readmemh(`SNAP_CONFIG_FILE, cfg_mem);
  end
`endif

  // Block RAMs with one synchronous read port and one write port each; the weights and the
  // accumulators in lines of SYN_LANES, written a whole line at a time.
  reg [W_LINE-1:0] w_mem[0:W_LINES-1];
  reg signed [12:0] bias_mem[0:NEURON_CAP-1];
  reg signed [U_W-1:0] u_mem[0:NEURON_CAP-1];
  reg signed [V_W-1:0] v_mem[0:NEURON_CAP-1];
  reg signed [A_W-1:0] a_mem[0:NEURON_CAP-1];
  reg [ACC_LINE-1:0] acc_mem[0:WIDTH_CAP/SYN_LANES-1];
  integer k;
  initial begin
    for (k = 0; k < WIDTH_CAP / SYN_LANES; k = k + 1) acc_mem[k] = {ACC_LINE{1'b0}};
`ifndef SNAP_SIM
    $readmemh(`SNAP_BIAS_FILE, bias_mem);
    $readmemh(`SNAP_WEIGHT_FILE, w_mem);
`endif
  end

  reg w_we, bias_we, u_we, v_we, a_we, acc_we;
  reg [WA-1:0] w_wa, w_ra;
  reg [NA-1:0] n_wa, n_ra;  // one address for the neuron memories' writes, one for reads
  reg [NA-1:0] u_wa, v_wa;
  reg [GA-1:0] acc_wa, acc_ra;
  reg [W_LINE-1:0] w_wd;
  reg signed [12:0] bias_wd;
  reg signed [U_W-1:0] u_wd;
  reg signed [V_W-1:0] v_wd;
  reg signed [A_W-1:0] a_wd;
  reg [ACC_LINE-1:0] acc_wd;
  reg [W_LINE-1:0] w_q;
  reg signed [12:0] bias_q;
  reg signed [U_W-1:0] u_q;
  reg signed [V_W-1:0] v_q;
  reg signed [A_W-1:0] a_q;
  reg [ACC_LINE-1:0] acc_q;

  always @(posedge clk) begin
    if (w_we) w_mem[w_wa] <= w_wd;
    w_q <= w_mem[w_ra];
  end
  always @(posedge clk) begin
    if (bias_we) bias_mem[n_wa] <= bias_wd;
    bias_q <= bias_mem[n_ra];
  end
  always @(posedge clk) begin
    if (u_we) u_mem[u_wa] <= u_wd;
    u_q <= u_mem[n_ra];
  end
  always @(posedge clk) begin
    if (v_we) v_mem[v_wa] <= v_wd;
    v_q <= v_mem[n_ra];
  end
  always @(posedge clk) begin
    if (a_we) a_mem[n_wa] <= a_wd;
    a_q <= a_mem[n_ra];
  end
  always @(posedge clk) begin
    if (acc_we) acc_mem[acc_wa] <= acc_wd;
    acc_q <= acc_mem[acc_ra];
  end

  // ---------------------------------------------------------------- control
  localparam [4:0] IDLE = 5'd0, LOAD_REQ = 5'd1, LOAD_WAIT = 5'd2, ITEM = 5'd3,
      SIN_REQ = 5'd4, SIN_WAIT = 5'd5, STEP = 5'd6, UNPACK_REQ = 5'd7, UNPACK_WAIT = 5'd8,
      LAYER = 5'd9, SCAN = 5'd10, ROW = 5'd11, UPDATE = 5'd12, DRAIN = 5'd13,
      NEXT_LAYER = 5'd14, PACK_REQ = 5'd15, PACK_WAIT = 5'd16, SOUT_READ = 5'd17,
      SOUT_LATCH = 5'd18, SOUT_REQ = 5'd19, SOUT_WAIT = 5'd20, FINISH = 5'd21, GAP = 5'd22,
      ROW_MUL = 5'd23, ROW_BASE = 5'd24;
  reg [4:0] phase;
  assign core_idle = (phase == IDLE);
  assign start_ack = (phase == IDLE) && ap_start;
  assign finish = (phase == FINISH);

  // The partition's sizes, from the layer table's header.
  wire [31:0] n_layers = layer_table[0];
  wire [31:0] n_neurons = layer_table[1];
  wire [31:0] image_words = layer_table[5];
  wire [31:0] config_words = layer_table[6];
  wire [31:0] in_words = (layer_table[3] + 31) >> 5;
  wire [31:0] out_words = (layer_table[4] + 31) >> 5;

  // Arguments latched at ap_start; running pointers through the buffers.
  reg [31:0] steps, batch;
  reg [63:0] in_ptr, out_ptr, item_ptr, param_ptr;
  reg [31:0] b, t_step, n, word, image_left;
  reg [1:0] state_var;  // which state word: u, v, a
  reg [1:0] section;  // parameter image section: layer words, biases, weights
  reg [31:0] sec_index;
  reg [63:0] u_out, v_out, a_out;
  reg [63:0] v_offset, a_offset;  // byte offsets of v and a in an item's state: 8N, 16N

  // The layer being run.
  reg [LA-1:0] layer;
  reg [7:0] cfg_base;  // where the layer's words start in cfg_mem
  reg [31:0] no, nbase, i, j, row_ptr, w_base, row_offset;
  reg [31:0] stride;  // lines per row of the layer's weights: ceil(no / SYN_LANES)
  // Loading the weights: the image's row-major stream placed into lines.
  reg [LA-1:0] ld_layer;
  reg [31:0] ld_left, ld_rows_left;  // weights left in the row and rows left in the layer
  reg [31:0] ld_line;
  reg [LG-1:0] ld_lane;
  reg [W_LINE-1:0] ld_buffer;  // the line being loaded: its lanes below ld_lane
  // that line with the weight arriving now in its lane (lanes above it zero)
  wire [W_LINE-1:0] ld_full =
      ld_buffer | ({{(W_LINE - WEIGHT_BITS) {1'b0}}, m_rdata[WEIGHT_BITS-1:0]} << (ld_lane * WEIGHT_BITS));
  wire ld_line_end = &ld_lane || ld_left == 32'd1;
  wire [31:0] ld_no = layer_table[TABLE_HEADER+4*ld_layer+1];
  wire [31:0] ld_next_ni = layer_table[TABLE_HEADER+4*(ld_layer+1'b1)];
  wire [31:0] ld_next_no = layer_table[TABLE_HEADER+4*(ld_layer+1'b1)+1];
  reg [SPIKE_BITS-1:0] spikes, next_spikes;
  reg [3:0] drain;

  // Both engines read block RAM in the cycle an element issues (stage 0) and register what
  // comes out (stage 2) before any arithmetic: a BRAM's clock-to-output leaves no time for
  // more in the same cycle at 100 MHz. Values named _k are valid k cycles after issue.
  localparam integer DEPTH = 9;  // the LIF update's last stage: write-back and spike
  // Synapse engine: line j of a row issued in stage 0, its lanes accumulated and written in
  // stage 2.
  reg [2:1] ev_valid;
  reg [GA-1:0] ev_j[1:2];
  // LIF update: one neuron per cycle through DEPTH stages.
  reg [DEPTH:1] up_valid;
  reg [NA-1:0] up_n[1:DEPTH];
  reg [XA-1:0] up_j[1:DEPTH];
  reg signed [4:0] l_wexp;
  // the layer's decay factors 4096 - (du + 1) and 4096 - dv, as non-negative multiplicands
  reg signed [13:0] u_factor, v_factor;
  reg [16:0] l_vth;
  reg [2:0] l_bexp;
  reg l_subtract;  // reset by subtracting vth << 6 instead of to zero
  // stage 2: the block RAMs' words, registered
  reg signed [U_W-1:0] u_2;
  reg signed [V_W-1:0] v_2;
  reg signed [A_W-1:0] a_2;
  reg signed [12:0] bias_2;
  reg signed [ACC_W-1:0] acc_2;  // the updated neuron's lane
  reg [ACC_LINE-1:0] acc_line_2;
  reg [W_LINE-1:0] w_2;
  // stage 3: the decay products in 17-bit pieces (one 18x18 multiplier each); the shifts
  reg signed [31:0] u_lo_3, u_mid_3, u_hi_3, v_lo_3, v_hi_3;
  reg signed [U_W-1:0] arrived_3, arrived_4, arrived_5;
  reg signed [U_W+1:0] bias_3, bias_4, bias_5;
  // stages 4-9: products summed, rounded, u wrapped, v summed, clipped, compared
  reg signed [PROD_W-1:0] u_prod_4, v_prod_4, u_dec_5, v_dec_5;
  reg signed [U_W+1:0] u_sum_6, v_part_6, u_new_7, v_part_7, u_new_8, u_new_9;
  reg signed [U_W+2:0] v_sum_8, v_clip_9;

  // stage 2: this step's accumulated activation, kept for the next step (Dense's delay).
  wire signed [ACT_W-1:0] acc_doubled = {{(ACT_W - ACC_W) {acc_2[ACC_W-1]}}, acc_2} <<< `SNAP_WEIGHT_SHIFT;
  wire signed [ACT_W-1:0] activation =
      l_wexp[4] ? (acc_doubled >>> (-l_wexp)) : (acc_doubled <<< l_wexp);
  // stage 2 of the synapse engine: every lane's sum
  wire [ACC_LINE-1:0] acc_sums;
  genvar lane;
  generate
    for (lane = 0; lane < SYN_LANES; lane = lane + 1) begin : lanes
      wire signed [ACC_W-1:0] weight = $signed(w_2[lane*WEIGHT_BITS+:WEIGHT_BITS]);
      assign acc_sums[lane*ACC_W+:ACC_W] = acc_line_2[lane*ACC_W+:ACC_W] + weight;
    end
  endgenerate
  // The synapse engine's scan: the inputs of spike word scan_word that spiked and are not yet
  // taken (scan_pending, a register, so its lowest set bit is isolated by a carry chain and
  // encoded with nothing in front).
  reg [31:0] scan_word, scan_pending;
  reg [31:0] scan_left;  // spike words of the layer's input from scan_word on, itself included
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
  // stage 9: the spike
  wire signed [U_W+2:0] threshold_9 = $signed({24'd0, l_vth, 6'd0});
  wire fired = v_clip_9 > threshold_9;
  wire signed [U_W+2:0] v_reset_9 = l_subtract ? v_clip_9 - threshold_9 : {(U_W + 3) {1'b0}};

  // Write and read ports, by phase.
  always @* begin
    w_we = 1'b0;
    bias_we = 1'b0;
    u_we = 1'b0;
    v_we = 1'b0;
    a_we = 1'b0;
    acc_we = 1'b0;
    w_wa = ld_line[WA-1:0];
    w_wd = ld_full;
    bias_wd = m_rdata[12:0];
    n_wa = n[NA-1:0];
    u_wa = n[NA-1:0];
    v_wa = n[NA-1:0];
    u_wd = m_rdata[U_W-1:0];
    v_wd = m_rdata[V_W-1:0];
    a_wd = m_rdata[A_W-1:0];
    acc_wa = ev_j[2];
    acc_wd = acc_sums;
    w_ra = row_ptr[WA-1:0] + j[WA-1:0];
    n_ra = (phase == UPDATE) ? nbase[NA-1:0] + j[NA-1:0] : n[NA-1:0];
    acc_ra = (phase == UPDATE) ? j[XA-1:LG] : j[GA-1:0];
    if (phase == LOAD_WAIT && m_rvalid) begin
      w_we = section == 2'd2 && ld_line_end;
      bias_we = section == 2'd1;
      n_wa = sec_index[NA-1:0];
    end
    if (phase == SIN_WAIT && m_rvalid) begin
      u_we = state_var == 2'd0;
      v_we = state_var == 2'd1;
      a_we = state_var == 2'd2;
    end
    if (ev_valid[2]) acc_we = 1'b1;
    if (up_valid[2]) begin
      a_we = 1'b1;
      n_wa = up_n[2];
      a_wd = activation[A_W-1:0];
      // the line is cleared for the next layer after its last neuron has read it
      acc_we = &up_j[2][LG-1:0] || {{(32 - XA) {1'b0}}, up_j[2]} + 32'd1 == no;
      acc_wa = up_j[2][XA-1:LG];
      acc_wd = {ACC_LINE{1'b0}};
    end
    if (up_valid[DEPTH]) begin
      u_we = 1'b1;
      v_we = 1'b1;
      u_wa = up_n[DEPTH];
      v_wa = up_n[DEPTH];
      u_wd = u_new_9[U_W-1:0];
      v_wd = fired ? v_reset_9[V_W-1:0] : v_clip_9[V_W-1:0];
    end
  end

  // The pipelines' datapath: no reset, every stage moves every cycle.
  integer st;
  always @(posedge clk) begin
    for (st = DEPTH; st > 1; st = st - 1) begin
      up_n[st] <= up_n[st-1];
      up_j[st] <= up_j[st-1];
    end
    up_n[1] <= n_ra;  // what stage 0 issues, in the UPDATE phase
    up_j[1] <= j[XA-1:0];
    ev_j[1] <= j[XA-1:0];
    ev_j[2] <= ev_j[1];
    u_2 <= u_q;
    v_2 <= v_q;
    a_2 <= a_q;
    bias_2 <= bias_q;
    acc_2 <= acc_q[up_j[1][LG-1:0]*ACC_W+:ACC_W];
    acc_line_2 <= acc_q;
    w_2 <= w_q;
    u_lo_3 <= $signed({1'b0, u_2[16:0]}) * u_factor;
    u_mid_3 <= $signed({1'b0, u_2[33:17]}) * u_factor;
    u_hi_3 <= $signed(u_2[U_W-1:34]) * u_factor;
    v_lo_3 <= $signed({1'b0, v_2[16:0]}) * v_factor;
    v_hi_3 <= $signed(v_2[V_W-1:17]) * v_factor;
    arrived_3 <= {{(U_W - A_W - 6) {a_2[A_W-1]}}, a_2, 6'd0};
    bias_3 <= {{(U_W + 2 - 13) {bias_2[12]}}, bias_2} <<< l_bexp;
    u_prod_4 <= ($signed(u_hi_3) <<< 34) + ($signed(u_mid_3) <<< 17) + u_lo_3;
    v_prod_4 <= ($signed(v_hi_3) <<< 17) + v_lo_3;
    arrived_4 <= arrived_3;
    bias_4 <= bias_3;
    // decay rounded toward zero
    u_dec_5 <= (u_prod_4 + (u_prod_4[PROD_W-1] ? 4095 : 0)) >>> 12;
    v_dec_5 <= (v_prod_4 + (v_prod_4[PROD_W-1] ? 4095 : 0)) >>> 12;
    arrived_5 <= arrived_4;
    bias_5 <= bias_4;
    u_sum_6 <= $signed(u_dec_5[U_W+1:0]) + arrived_5;
    v_part_6 <= $signed(v_dec_5[U_W+1:0]) + bias_5;
    // Lava's single correction into 24 bits (not a modulo)
    u_new_7 <= u_sum_6 > STATE_LIMIT ? u_sum_6 - WRAP :
        (u_sum_6 <= -STATE_LIMIT ? u_sum_6 + WRAP : u_sum_6);
    v_part_7 <= v_part_6;
    v_sum_8 <= v_part_7 + u_new_7;
    u_new_8 <= u_new_7;
    v_clip_9 <= v_sum_8 > V_MAX ? V_MAX : (v_sum_8 < -V_MAX ? -V_MAX : v_sum_8);
    u_new_9 <= u_new_8;
  end

  always @(posedge clk) begin
    if (!rst_n) begin
      phase <= IDLE;
      m_valid <= 1'b0;
      ev_valid <= 2'b0;
      up_valid <= {DEPTH{1'b0}};
      spikes <= {SPIKE_BITS{1'b0}};
      next_spikes <= {SPIKE_BITS{1'b0}};
    end else begin
      if (m_valid && m_ready) m_valid <= 1'b0;
      ev_valid <= {ev_valid[1], 1'b0};
      up_valid <= {up_valid[DEPTH-1:1], 1'b0};
      if (up_valid[DEPTH]) next_spikes[up_j[DEPTH]] <= fired;
      case (phase)
        IDLE:
        if (ap_start) begin
          steps <= reg_steps;
          batch <= reg_batch;
          in_ptr <= {reg_spikes_in[1], reg_spikes_in[0]};
          out_ptr <= {reg_spikes_out[1], reg_spikes_out[0]};
          item_ptr <= {reg_state[1], reg_state[0]};
          param_ptr <= {reg_params[1], reg_params[0]};
          b <= 32'd0;
          section <= 2'd0;
          sec_index <= 32'd0;
          image_left <= image_words;
          ld_layer <= {LA{1'b0}};
          ld_left <= layer_table[TABLE_HEADER+1];
          ld_rows_left <= layer_table[TABLE_HEADER];
          ld_line <= 32'd0;
          ld_lane <= {LG{1'b0}};
          ld_buffer <= {W_LINE{1'b0}};
          v_offset <= {29'd0, n_neurons, 3'd0};
          a_offset <= {28'd0, n_neurons, 4'd0};
          phase <= reg_load != 0 ? LOAD_REQ : ITEM;
        end
        LOAD_REQ:
        if (image_left == 0) phase <= ITEM;
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
          phase <= LOAD_REQ;
          sec_index <= sec_index + 1;
          if (section == 2'd2) begin  // the next weight's place: lane, line, row, layer
            ld_lane <= ld_lane + 1'b1;
            ld_left <= ld_left - 1;
            ld_buffer <= ld_line_end ? {W_LINE{1'b0}} : ld_full;
            if (&ld_lane) ld_line <= ld_line + 1;
            if (ld_left == 32'd1) begin  // the row's last weight
              ld_lane <= {LG{1'b0}};
              ld_left <= ld_no;
              ld_line <= ld_line + 1;
              ld_rows_left <= ld_rows_left - 1;
              if (ld_rows_left == 32'd1) begin
                ld_layer <= ld_layer + 1'b1;
                ld_left <= ld_next_no;
                ld_rows_left <= ld_next_ni;
              end
            end
          end
          if (section == 2'd0) cfg_mem[sec_index[$clog2(CFG_WORDS)-1:0]] <= m_rdata[16:0];
          if (section == 2'd0 && sec_index + 1 == config_words ||
              section == 2'd1 && sec_index + 1 == n_neurons) begin
            section <= section + 2'd1;
            sec_index <= 32'd0;
          end
        end
        ITEM:
        if (b == batch) phase <= FINISH;
        else begin
          n <= 32'd0;
          state_var <= 2'd0;
          phase <= SIN_REQ;
        end
        SIN_REQ: begin
          m_valid <= 1'b1;
          m_write <= 1'b0;
          m_wide <= 1'b1;
          m_addr <= item_ptr + {29'd0, n, 3'd0} +
              (state_var == 2'd0 ? 64'd0 : (state_var == 2'd1 ? v_offset : a_offset));
          m_wdata <= 64'd0;
          phase <= SIN_WAIT;
        end
        SIN_WAIT:
        if (m_rvalid) begin
          phase <= SIN_REQ;
          if (state_var == 2'd2) begin
            state_var <= 2'd0;
            n <= n + 1;
            if (n + 1 == n_neurons) begin
              t_step <= 32'd0;
              phase <= STEP;
            end
          end else state_var <= state_var + 2'd1;
        end
        STEP:
        if (t_step == steps) begin
          n <= 32'd0;
          phase <= SOUT_READ;
        end else begin
          word <= 32'd0;
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
          spikes[word[WW-1:0]*32+:32] <= m_rdata[31:0];
          in_ptr <= in_ptr + 4;
          word <= word + 1;
          if (word + 1 == in_words) begin
            layer <= {LA{1'b0}};
            cfg_base <= 8'd0;
            phase <= LAYER;
          end else phase <= UNPACK_REQ;
        end
        LAYER: begin
          no <= layer_table[TABLE_HEADER+4*layer+1];
          nbase <= layer_table[TABLE_HEADER+4*layer+3];
          w_base <= layer_table[TABLE_HEADER+4*layer+2];
          stride <= (layer_table[TABLE_HEADER+4*layer+1] + SYN_LANES - 1) >> LG;
          l_wexp <= cfg_mem[cfg_base][4:0];
          u_factor <= {2'b0, 12'd4095 - cfg_mem[cfg_base+1][11:0]};
          v_factor <= {1'b0, 13'd4096 - {1'b0, cfg_mem[cfg_base+2][11:0]}};
          l_vth <= cfg_mem[cfg_base+3][16:0];
          l_bexp <= cfg_mem[cfg_base+4][2:0];
          l_subtract <= cfg_mem[cfg_base+5][0];
          scan_word <= 32'd0;
          scan_left <= (layer_table[TABLE_HEADER+4*layer] + 32'd31) >> 5;
          scan_pending <= spikes[31:0];
          phase <= SCAN;
        end
        SCAN:  // one cycle per input that spiked, and one per spike word
        if (scan_pending != 32'd0) begin
          i <= {scan_word[26:0], scan_first};
          scan_pending <= scan_pending & ~scan_low;
          phase <= ROW_MUL;
        end else if (scan_left == 32'd1) begin
          j <= 32'd0;
          phase <= GAP;
        end else begin
          scan_word <= scan_word + 32'd1;
          scan_left <= scan_left - 32'd1;
          scan_pending <= spikes[(scan_word[XA-6:0]+1'b1)*32+:32];
        end
        ROW_MUL: begin  // the row's first line: w_base + i * stride, over two cycles
          row_offset <= i[XA-1:0] * stride[GA:0];
          j <= 32'd0;
          phase <= ROW_BASE;
        end
        ROW_BASE: begin
          row_ptr <= w_base + row_offset;
          phase <= ROW;
        end
        ROW: begin  // one line of SYN_LANES weights per cycle
          ev_valid[1] <= 1'b1;
          j <= j + 1;
          if (j + 1 == stride) phase <= SCAN;
        end
        GAP: phase <= UPDATE;  // the last row's sums are written before the update reads them
        UPDATE: begin
          up_valid[1] <= 1'b1;
          j <= j + 1;
          if (j + 1 == no) begin
            drain <= 4'd1;
            phase <= DRAIN;
          end
        end
        DRAIN:  // until the layer's last neuron is written back and its spike set
        if (drain == DEPTH) phase <= NEXT_LAYER;
        else drain <= drain + 4'd1;
        NEXT_LAYER: begin
          spikes <= next_spikes;
          next_spikes <= {SPIKE_BITS{1'b0}};
          layer <= layer + 1'b1;
          cfg_base <= cfg_base + `SNAP_IMAGE_LAYER_WORDS;
          if (layer + 1'b1 == n_layers[LA-1:0]) begin
            word <= 32'd0;
            phase <= PACK_REQ;
          end else phase <= LAYER;
        end
        PACK_REQ: begin
          m_valid <= 1'b1;
          m_write <= 1'b1;
          m_wide <= 1'b0;
          m_addr <= out_ptr;
          m_wdata <= {32'd0, spikes[word[WW-1:0]*32+:32]};
          phase <= PACK_WAIT;
        end
        PACK_WAIT:
        if (m_rvalid) begin
          out_ptr <= out_ptr + 4;
          word <= word + 1;
          if (word + 1 == out_words) begin
            t_step <= t_step + 1;
            phase <= STEP;
          end else phase <= PACK_REQ;
        end
        SOUT_READ: phase <= SOUT_LATCH;  // n_ra = n this cycle; the words arrive next
        SOUT_LATCH: begin
          u_out <= {{(64 - U_W) {u_q[U_W-1]}}, u_q};
          v_out <= {{(64 - V_W) {v_q[V_W-1]}}, v_q};
          a_out <= {{(64 - A_W) {a_q[A_W-1]}}, a_q};
          state_var <= 2'd0;
          phase <= SOUT_REQ;
        end
        SOUT_REQ: begin
          m_valid <= 1'b1;
          m_write <= 1'b1;
          m_wide <= 1'b1;
          m_addr <= item_ptr + {29'd0, n, 3'd0} +
              (state_var == 2'd0 ? 64'd0 : (state_var == 2'd1 ? v_offset : a_offset));
          m_wdata <= state_var == 2'd0 ? u_out : (state_var == 2'd1 ? v_out : a_out);
          phase <= SOUT_WAIT;
        end
        SOUT_WAIT:
        if (m_rvalid) begin
          if (state_var != 2'd2) begin
            state_var <= state_var + 2'd1;
            phase <= SOUT_REQ;
          end else if (n + 1 == n_neurons) begin
            item_ptr <= item_ptr + v_offset + a_offset;
            b <= b + 1;
            phase <= ITEM;
          end else begin
            n <= n + 1;
            phase <= SOUT_READ;
          end
        end
        FINISH: phase <= IDLE;
        default: phase <= IDLE;
      endcase
    end
  end
endmodule
