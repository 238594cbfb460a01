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
// Bits of a stored weight mantissa (weight = mantissa << WEIGHT_SHIFT).
`define SNAP_WEIGHT_BITS 8
`define SNAP_WEIGHT_SHIFT 1
// Weights the synapse engine adds per cycle: its weight and accumulator RAMs hold lines of
// this many lanes, each row of weights starting a new line (a power of two, at least 2).
`define SNAP_SYN_LANES 16
// Words per layer at the start of the parameter image: weight_exp, du, dv, vth, bias_exp,
// reset (0: to zero, 1: subtract vth << 6).
`define SNAP_IMAGE_LAYER_WORDS 6
// Words of the layer table ROM: a header of LAYER_TABLE_HEADER words (n_layers, n_neurons,
// n_weights, n_in, n_out, parameter image words, its layer words, then a zero), then n_in,
// n_out, weight base (a line index), neuron base per layer.
`define SNAP_LAYER_TABLE_HEADER 8
`define SNAP_LAYER_TABLE_WORDS 24
// Power-on contents (for synthesis; a simulation loads the same words at run time).
`define SNAP_LAYER_TABLE_FILE "lif_layers.hex"
`define SNAP_CONFIG_FILE "lif_config.hex"
`define SNAP_BIAS_FILE "lif_bias.hex"
`define SNAP_WEIGHT_FILE "lif_weights.hex"

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
