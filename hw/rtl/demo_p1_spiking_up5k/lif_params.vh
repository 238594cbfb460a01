// Parameter header of one spiking partition's RTL LIF core, written by
// snapdeploy.backends.rtl.writer from snapdeploy/backends/rtl/core/lif_params.vh.in.
// Regenerate it from the partition; do not edit it by hand. Every value here is data: the
// logic is in lif_core.v.
`ifndef SNAP_LIF_PARAMS_VH
`define SNAP_LIF_PARAMS_VH

// Capacities of the on-chip memories: powers of two at least the partition's sizes, so that
// every partition of the same capacities shares this header and one simulation build (its
// own sizes are in the layer table).
`define SNAP_LAYER_CAP 4
`define SNAP_NEURON_CAP 256
`define SNAP_WEIGHT_CAP 8192
`define SNAP_WIDTH_CAP 128
`define SNAP_PENDING_CAP 256
`define SNAP_DELAY_CAP 4
`define SNAP_ACC_CAP 32
// Bits of a stored weight: a Dense mantissa (weight = mantissa << WEIGHT_SHIFT) or a conv
// kernel's weight (unshifted).
`define SNAP_WEIGHT_BITS 8
`define SNAP_WEIGHT_SHIFT 1
// Weights the synapse engine adds per cycle: its weight and accumulator RAMs hold lines of
// this many lanes, each row of weights starting a new line (a power of two, at least 2).
`define SNAP_SYN_LANES 2
// Neurons the LIF update takes per cycle (a power of two dividing SYN_LANES and 32): its u,
// v and pending memories are this many banks, its biases this many copies.
`define SNAP_LIF_LANES 1
// Optional synapse engines (1: built in), from the partition's layer kinds: the delay path
// (delay RAM, per-lane delayed accumulator lines) and the conv engine (divisions, kernel
// taps, accumulator rotation; sum pools run on it). Dense rows run on every core; a core
// without an engine is never given a layer that needs it (engines.py refuses it first).
`define SNAP_HAS_DELAY 0
`define SNAP_HAS_CONV 0
// The lean build (1 on the iCE40 UP5K, whose logic cells a flip-flop shares only with its own
// LUT's output): a layer's six parameter words in block RAM, read with its fields (a layer's
// fields are then read every step); its output spikes written over its input's, a word at a
// time, once its rows are done; counters and Dense fields as wide as the capacities need;
// the synapse banks' pipeline 2 stages, not 4; the finder a bit a cycle; the argument
// registers write-only (reading 0), the pointers written straight into the running ones, the
// steps and batch read as the run goes. Same results, more cycles per step (hw/README.md).
`define SNAP_LEAN 1
// Words per layer at the start of the parameter image: weight_exp, du, dv, vth, bias_exp,
// reset (0: to zero, 1: subtract vth << 6).
`define SNAP_IMAGE_LAYER_WORDS 6
// The layer table: a header of LAYER_TABLE_HEADER words (n_layers, n_neurons, n_weights,
// n_in, n_out, parameter image words, its layer words, pending activations), then
// LAYER_TABLE_LAYER words per layer (the fields below), then the load blocks (rows, weights
// per row) of every layer's weights and every delay layer's delays, two words each.
`define SNAP_LAYER_TABLE_HEADER 8
`define SNAP_LAYER_TABLE_LAYER 64
`define SNAP_LAYER_TABLE_WORDS 280
// A layer's fields (word offsets in its entry): every layer reads the first DENSE_FIELDS, a
// conv layer all of them. Inputs, neurons, first weight line, first neuron, synapse engine
// (0 Dense, 1 delay, 2 conv), lines per row, weights per row, pending activations per neuron,
// first pending activation, first delay line; a conv's input channels, input y, channels per
// group, strides (each divisor followed by its reciprocal M, K: n / d = n * M >> K), padding,
// dilation / stride and dilation % stride, kernel, output x, y, channels, y * channels.
`define SNAP_FIELDS 37
`define SNAP_DENSE_FIELDS 10
`define SNAP_F_N_IN 0
`define SNAP_F_N_OUT 1
`define SNAP_F_W_BASE 2
`define SNAP_F_N_BASE 3
`define SNAP_F_KIND 4
`define SNAP_F_STRIDE 5
`define SNAP_F_ROW_LEN 6
`define SNAP_F_DEPTH 7
`define SNAP_F_P_BASE 8
`define SNAP_F_D_BASE 9
`define SNAP_F_C 10
`define SNAP_F_Y 13
`define SNAP_F_CG 16
`define SNAP_F_SX 19
`define SNAP_F_SY 22
`define SNAP_F_PX 25
`define SNAP_F_PY 26
`define SNAP_F_DXQ 27
`define SNAP_F_DXR 28
`define SNAP_F_DYQ 29
`define SNAP_F_DYR 30
`define SNAP_F_KX 31
`define SNAP_F_KY 32
`define SNAP_F_XO 33
`define SNAP_F_YO 34
`define SNAP_F_CO 35
`define SNAP_F_YOCO 36
// Synapse engines (the KIND field).
`define SNAP_KIND_DELAY 1
`define SNAP_KIND_CONV 2
// Power-on contents (for synthesis; a simulation loads the same words at run time): the
// layer table's header, layer entries and load blocks, then the parameter memories.
`define SNAP_TABLE_HEAD_FILE "lif_table_head.hex"
`define SNAP_TABLE_LAYERS_FILE "lif_table_layers.hex"
`define SNAP_TABLE_BLOCKS_FILE "lif_table_blocks.hex"
`define SNAP_CONFIG_FILE "lif_config.hex"
`define SNAP_BIAS_FILE "lif_bias.hex"
`define SNAP_WEIGHT_FILE "lif_weights.hex"
`define SNAP_DELAY_FILE "lif_delays.hex"

// The AXI-Lite register map (byte offsets), shared with the HLS core and the driver.
`define SNAP_REG_CTRL 0
`define SNAP_REG_GIE 4
`define SNAP_REG_IER 8
`define SNAP_REG_ISR 12
`define SNAP_REG_SPIKES_IN 16
`define SNAP_REG_SPIKES_OUT 28
`define SNAP_REG_STATE 40
`define SNAP_REG_PARAMS 52
`define SNAP_REG_STEPS 64
`define SNAP_REG_BATCH 72
`define SNAP_REG_LOAD 80
`define SNAP_REG_ADDR_BITS 16

`endif
