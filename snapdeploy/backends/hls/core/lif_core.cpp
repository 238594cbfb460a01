// The LIF core: a synapse engine over on-chip weights and the LIF update, for the chain of
// layers described in lif_params.h. The same file is synthesized by Vitis HLS and compiled
// by g++ for C-simulation (g++ ignores the pragmas). See lif_core.h for the arithmetic.
#include "lif_core.h"

// On-chip memories, loaded through the `params` port; their power-on contents are the
// partition's own parameters, so a bitstream runs its partition without a load.
static LayerCfg layer_cfg[N_LAYERS] = {SNAP_LAYER_CFG_INIT};
static int16_t bias_mem[N_NEURONS] = {SNAP_BIAS_INIT};      // 13-bit bias mantissas
static weight_t weight_mem[N_WEIGHTS] = {SNAP_WEIGHT_INIT};  // [layer][input][neuron]
// Neuron state of the batch item being run; read from and written back to `state`.
static state_t u_mem[N_NEURONS];
static state_t v_mem[N_NEURONS];
static state_t a_mem[N_NEURONS];

static void load_params(const int32_t* params) {
LOAD_LAYERS:
  for (int l = 0; l < N_LAYERS; ++l) {
    const int32_t* cfg = params + l * IMAGE_LAYER_WORDS;
    layer_cfg[l].weight_exp = cfg[0];
    layer_cfg[l].du = cfg[1];
    layer_cfg[l].dv = cfg[2];
    layer_cfg[l].vth = cfg[3];
    layer_cfg[l].bias_exp = cfg[4];
    layer_cfg[l].reset = cfg[5];
  }
LOAD_BIAS:
  for (int n = 0; n < N_NEURONS; ++n) {
#pragma HLS PIPELINE II=1
    bias_mem[n] = int16_t(to_width(params[IMAGE_BIAS_BASE + n], 13));
  }
LOAD_WEIGHTS:
  for (int w = 0; w < N_WEIGHTS; ++w) {
#pragma HLS PIPELINE II=1
    weight_mem[w] = weight_t(to_width(params[IMAGE_WEIGHT_BASE + w], WEIGHT_BITS));
  }
}

// One time step of layer L: accumulate this step's input events (synapse engine), then
// update its neurons, whose spikes overwrite `spikes` as the next layer's input.
template <int L>
static void layer_step(spike_t spikes[MAX_WIDTH]) {
  constexpr int NI = LAYER_N_IN[L];
  constexpr int NO = LAYER_N_OUT[L];
  constexpr int WB = LAYER_W_BASE[L];
  constexpr int NB = LAYER_N_BASE[L];
  constexpr int LANES = LAYER_LANES[L];
  acc_t acc[NO];
#pragma HLS ARRAY_PARTITION variable=acc cyclic factor=LANES
CLEAR:
  for (int j = 0; j < NO; ++j) {
#pragma HLS UNROLL factor=LANES
    acc[j] = 0;
  }
SYNAPSE_EVENTS:
  for (int i = 0; i < NI; ++i) {
    if (!spikes[i]) continue;
    const weight_t* row = weight_mem + WB + i * NO;
  SYNAPSE_ACCUM:
    for (int j = 0; j < NO; ++j) {
#pragma HLS PIPELINE II=1
#pragma HLS UNROLL factor=LANES
      acc[j] += row[j];
    }
  }
  const LayerCfg cfg = layer_cfg[L];
  const state_t vth = state_t(cfg.vth) << VTH_SHIFT;
LIF_UPDATE:
  for (int j = 0; j < NO; ++j) {
#pragma HLS PIPELINE II=1
#pragma HLS UNROLL factor=LANES
    const int n = NB + j;
    const state_t arrived = a_mem[n];  // Dense: last step's activation arrives now
    a_mem[n] = shift_exp(shift_exp(acc[j], WEIGHT_SHIFT), cfg.weight_exp);
    const state_t u = wrap24(decay(u_mem[n], cfg.du + DU_OFFSET) + shift_exp(arrived, ACT_SHIFT));
    const state_t bias = shift_exp(bias_mem[n], cfg.bias_exp);
    const state_t v = clip_v(decay(v_mem[n], cfg.dv) + u + bias);
    const bool fired = v > vth;
    u_mem[n] = u;
    v_mem[n] = fired ? (cfg.reset == RESET_SUBTRACT ? v - vth : 0) : v;
    spikes[j] = fired;
  }
}

// The layers in order, unrolled at compile time so every loop has constant trip counts.
template <int L>
struct LayerChain {
  static void step(spike_t spikes[MAX_WIDTH]) {
    layer_step<L>(spikes);
    LayerChain<L + 1>::step(spikes);
  }
};

template <>
struct LayerChain<N_LAYERS> {
  static void step(spike_t*) {}
};

void lif_core(const uint32_t* spikes_in, uint32_t* spikes_out, state_t* state,
              const int32_t* params, uint32_t steps, uint32_t batch, uint32_t load) {
#pragma HLS INTERFACE m_axi port=spikes_in offset=slave bundle=gmem0
#pragma HLS INTERFACE m_axi port=spikes_out offset=slave bundle=gmem1
#pragma HLS INTERFACE m_axi port=state offset=slave bundle=gmem2
#pragma HLS INTERFACE m_axi port=params offset=slave bundle=gmem3
#pragma HLS INTERFACE s_axilite port=steps
#pragma HLS INTERFACE s_axilite port=batch
#pragma HLS INTERFACE s_axilite port=load
#pragma HLS INTERFACE s_axilite port=return
#pragma HLS ARRAY_PARTITION variable=weight_mem cyclic factor=MAX_LANES
#pragma HLS ARRAY_PARTITION variable=bias_mem cyclic factor=MAX_LANES
#pragma HLS ARRAY_PARTITION variable=u_mem cyclic factor=MAX_LANES
#pragma HLS ARRAY_PARTITION variable=v_mem cyclic factor=MAX_LANES
#pragma HLS ARRAY_PARTITION variable=a_mem cyclic factor=MAX_LANES
  if (load) load_params(params);
ITEMS:
  for (uint32_t b = 0; b < batch; ++b) {
    state_t* item_state = state + uint64_t(b) * STATE_WORDS;
  STATE_IN:
    for (int n = 0; n < N_NEURONS; ++n) {
#pragma HLS PIPELINE II=3
      u_mem[n] = item_state[n];
      v_mem[n] = item_state[N_NEURONS + n];
      a_mem[n] = item_state[2 * N_NEURONS + n];
    }
  STEPS:
    for (uint32_t t = 0; t < steps; ++t) {
      const uint64_t frame = uint64_t(b) * steps + t;
      spike_t spikes[MAX_WIDTH];
    UNPACK:
      for (int i = 0; i < N_IN; ++i) {
#pragma HLS PIPELINE II=1
        spikes[i] = (spikes_in[frame * IN_WORDS + i / 32] >> (i % 32)) & 1u;
      }
      LayerChain<0>::step(spikes);
    PACK:
      for (int w = 0; w < OUT_WORDS; ++w) {
#pragma HLS PIPELINE II=1
        uint32_t word = 0;
        for (int k = 0; k < 32 && w * 32 + k < N_OUT; ++k) {
          word |= uint32_t(spikes[w * 32 + k]) << k;
        }
        spikes_out[frame * OUT_WORDS + w] = word;
      }
    }
  STATE_OUT:
    for (int n = 0; n < N_NEURONS; ++n) {
#pragma HLS PIPELINE II=3
      item_state[n] = u_mem[n];
      item_state[N_NEURONS + n] = v_mem[n];
      item_state[2 * N_NEURONS + n] = a_mem[n];
    }
  }
}
