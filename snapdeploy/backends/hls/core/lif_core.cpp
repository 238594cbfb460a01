// The LIF core: synapse engines over on-chip weights, kernels and delays, and the LIF update,
// for the chain of layers described in lif_params.h. The same file is synthesized by Vitis
// HLS and compiled by g++ for C-simulation (g++ ignores the pragmas). See lif_core.h for the
// arithmetic.
#include "lif_core.h"

// On-chip memories, loaded through the `params` port; their power-on contents are the
// partition's own parameters, so a bitstream runs its partition without a load.
static LayerCfg layer_cfg[N_LAYERS] = {SNAP_LAYER_CFG_INIT};
static int16_t bias_mem[N_NEURONS] = {SNAP_BIAS_INIT};      // 13-bit bias mantissas
static weight_t weight_mem[N_WEIGHTS] = {SNAP_WEIGHT_INIT};  // [layer][input][neuron], kernels
static uint8_t delay_mem[DELAY_MEM_WORDS] = {SNAP_DELAY_INIT};  // [delay layer][input][neuron]
// Neuron state of the batch item being run; read from and written back to `state`.
static state_t u_mem[N_NEURONS];
static state_t v_mem[N_NEURONS];
static state_t p_mem[N_PENDING];  // pending activations: [layer][neuron][delay-line column]

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
LOAD_DELAYS:
  for (int d = 0; d < N_DELAYS; ++d) {
#pragma HLS PIPELINE II=1
    delay_mem[d] = uint8_t(params[IMAGE_DELAY_BASE + d]);
  }
}

// The synapse engines. Each accumulates this step's input events into acc (full-width sums;
// a delay layer keeps one sum per delay, [delay][neuron]) and, per neuron, turns the sums into
// what the neuron receives this step, moving the pending activations on.
template <int L, int KIND>
struct Synapse;

// Dense: one weight row per input spike, from the [input][neuron] weight memory.
template <int L>
struct Synapse<L, KIND_DENSE> {
  static void events(const spike_t spikes[MAX_WIDTH], acc_t acc[]) {
    constexpr int NI = LAYER_N_IN[L];
    constexpr int NO = LAYER_N_OUT[L];
    constexpr int LANES = LAYER_LANES[L];
  SYNAPSE_EVENTS:
    for (int i = 0; i < NI; ++i) {
      if (!spikes[i]) continue;
      const weight_t* row = weight_mem + LAYER_W_BASE[L] + i * NO;
    SYNAPSE_ACCUM:
      for (int j = 0; j < NO; ++j) {
#pragma HLS PIPELINE II=1
#pragma HLS UNROLL factor=LANES
        acc[j] += row[j];
      }
    }
  }
  // Dense sends last step's activation now and keeps this step's for the next.
  static state_t send(int j, const acc_t acc[], int32_t weight_exp) {
    state_t* pending = p_mem + LAYER_P_BASE[L] + j;
    const state_t arrived = *pending;
    *pending = shift_exp(shift_exp(acc[j], WEIGHT_SHIFT), weight_exp);
    return arrived;
  }
};

// DelayDense: the weight row plus the synapses' delays; each weight lands in its delay's sum.
template <int L>
struct Synapse<L, KIND_DELAY> {
  static void events(const spike_t spikes[MAX_WIDTH], acc_t acc[]) {
    constexpr int NI = LAYER_N_IN[L];
    constexpr int NO = LAYER_N_OUT[L];
    constexpr int LANES = LAYER_LANES[L];
  DELAY_EVENTS:
    for (int i = 0; i < NI; ++i) {
      if (!spikes[i]) continue;
      const weight_t* row = weight_mem + LAYER_W_BASE[L] + i * NO;
      const uint8_t* delays = delay_mem + LAYER_D_BASE[L] + i * NO;
    DELAY_ACCUM:
      for (int j = 0; j < NO; ++j) {
#pragma HLS PIPELINE II=1
#pragma HLS UNROLL factor=LANES
#pragma HLS DEPENDENCE variable=acc inter false
        acc[delays[j] * NO + j] += row[j];
      }
    }
  }
  // The delay line of neuron j: column 0 arrives now, column k + 1 moves to k, and this
  // step's sum of delay k joins column k (each delay's sum shifted on its own, as Lava).
  // Unrolled inside the pipelined LIF update, whose II becomes D: the line's D words share
  // one memory port.
  static state_t send(int j, const acc_t acc[], int32_t weight_exp) {
    constexpr int NO = LAYER_N_OUT[L];
    constexpr int D = LAYER_DEPTH[L];
    state_t* line = p_mem + LAYER_P_BASE[L] + j * D;
    const state_t arrived = line[0];
  DELAY_LINE:
    for (int k = 0; k < D; ++k) {
      const state_t next = k + 1 < D ? line[k + 1] : 0;
      line[k] = next + shift_exp(shift_exp(acc[k * NO + j], WEIGHT_SHIFT), weight_exp);
    }
    return arrived;
  }
};

// Conv (and sum pool): event driven. A spike at input (x, y, c) of group g meets, at kernel
// tap (i, j), output position ((x + px - i dx) / sx, (y + py - j dy) / sy) where that divides
// exactly and lies inside the output, and there adds the C_out / groups weights
// kernel[i][j][c][.] (the flipped kernel, [kx][ky][C_in][C_out / groups] in weight memory) to
// group g's output channels: one contiguous run of the accumulator.
template <int L>
struct Synapse<L, KIND_CONV> {
  static void events(const spike_t spikes[MAX_WIDTH], acc_t acc[]) {
    constexpr int NI = LAYER_N_IN[L];
    constexpr int LANES = LAYER_LANES[L];
    constexpr int Y = LAYER_CONV[L][CONV_Y], C = LAYER_CONV[L][CONV_C];
    constexpr int XO = LAYER_CONV[L][CONV_XO], YO = LAYER_CONV[L][CONV_YO];
    constexpr int CO = LAYER_CONV[L][CONV_CO];
    constexpr int KX = LAYER_CONV[L][CONV_KX], KY = LAYER_CONV[L][CONV_KY];
    constexpr int SX = LAYER_CONV[L][CONV_SX], SY = LAYER_CONV[L][CONV_SY];
    constexpr int PX = LAYER_CONV[L][CONV_PX], PY = LAYER_CONV[L][CONV_PY];
    constexpr int DX = LAYER_CONV[L][CONV_DX], DY = LAYER_CONV[L][CONV_DY];
    constexpr int GROUPS = LAYER_CONV[L][CONV_GROUPS];
    constexpr int CG = C / GROUPS;   // input channels per group
    constexpr int OG = CO / GROUPS;  // output channels per group
  CONV_EVENTS:
    for (int i = 0; i < NI; ++i) {
      if (!spikes[i]) continue;
      const int x = i / (Y * C), y = (i / C) % Y, c = i % C;
      acc_t* group_out = acc + (c / CG) * OG;
    CONV_TAPS:
      for (int t = 0; t < KX * KY; ++t) {
        const int tx = t / KY, ty = t % KY;
        const int xs = x + PX - tx * DX, ys = y + PY - ty * DY;
        if (xs < 0 || ys < 0 || xs % SX != 0 || ys % SY != 0) continue;
        const int xo = xs / SX, yo = ys / SY;
        if (xo >= XO || yo >= YO) continue;
        const weight_t* taps = weight_mem + LAYER_W_BASE[L] + (t * C + c) * OG;
        acc_t* out = group_out + (xo * YO + yo) * CO;
      CONV_ACCUM:
        for (int m = 0; m < OG; ++m) {
#pragma HLS PIPELINE II=1
#pragma HLS UNROLL factor=LANES
          out[m] += taps[m];
        }
      }
    }
  }
  // Conv sends last step's activation, as Dense; its own is wrapped into 24 bits.
  static state_t send(int j, const acc_t acc[], int32_t weight_exp) {
    state_t* pending = p_mem + LAYER_P_BASE[L] + j;
    const state_t arrived = *pending;
    *pending = wrap_bits(shift_exp(acc[j], weight_exp), CONV_ACT_BITS);
    return arrived;
  }
};

// One time step of layer L: accumulate this step's input events (its synapse engine), then
// update its neurons, whose spikes overwrite `spikes` as the next layer's input.
template <int L>
static void layer_step(spike_t spikes[MAX_WIDTH]) {
  constexpr int NO = LAYER_N_OUT[L];
  constexpr int NB = LAYER_N_BASE[L];
  constexpr int LANES = LAYER_LANES[L];
  constexpr int SUMS = NO * LAYER_DEPTH[L];  // one sum per neuron and delay
  typedef Synapse<L, LAYER_KIND[L]> synapse;
  static acc_t acc[SUMS];  // on-chip, one per layer (static: never on the C-sim's stack)
#pragma HLS ARRAY_PARTITION variable=acc cyclic factor=LANES
CLEAR:
  for (int j = 0; j < SUMS; ++j) {
#pragma HLS UNROLL factor=LANES
    acc[j] = 0;
  }
  synapse::events(spikes, acc);
  const LayerCfg cfg = layer_cfg[L];
  const state_t vth = state_t(cfg.vth) << VTH_SHIFT;
LIF_UPDATE:
  for (int j = 0; j < NO; ++j) {
#pragma HLS PIPELINE II=1
#pragma HLS UNROLL factor=LANES
    const int n = NB + j;
    const state_t arrived = synapse::send(j, acc, cfg.weight_exp);
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
#pragma HLS ARRAY_PARTITION variable=delay_mem cyclic factor=MAX_LANES
#pragma HLS ARRAY_PARTITION variable=p_mem cyclic factor=MAX_LANES
  if (load) load_params(params);
ITEMS:
  for (uint32_t b = 0; b < batch; ++b) {
    state_t* item_state = state + uint64_t(b) * STATE_WORDS;
  STATE_IN:
    for (int n = 0; n < N_NEURONS; ++n) {
#pragma HLS PIPELINE II=2
      u_mem[n] = item_state[n];
      v_mem[n] = item_state[N_NEURONS + n];
    }
  PENDING_IN:
    for (int p = 0; p < N_PENDING; ++p) {
#pragma HLS PIPELINE II=1
      p_mem[p] = item_state[2 * N_NEURONS + p];
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
#pragma HLS PIPELINE II=2
      item_state[n] = u_mem[n];
      item_state[N_NEURONS + n] = v_mem[n];
    }
  PENDING_OUT:
    for (int p = 0; p < N_PENDING; ++p) {
#pragma HLS PIPELINE II=1
      item_state[2 * N_NEURONS + p] = p_mem[p];
    }
  }
}
