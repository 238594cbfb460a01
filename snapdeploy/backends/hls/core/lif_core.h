// The integer LIF neuron of snapdeploy (Lava 0.10.0's fixed_pt LIF behind its Dense, DelayDense
// or Conv synapse), as HLS C++. Vitis HLS synthesizes it; g++ builds the same source as a
// C-simulation.
//
// Per layer and time step, all signed integers (see DESIGN.md, "The integer neuron"):
//   a_accum = sum of the weights of the inputs that spiked this step   (full width)
//   a       = a_accum << weight_exp (arithmetic >> when negative)      sent NEXT step
//   DelayDense: one a_accum per delay d (each shifted on its own), sent d + 1 steps later
//     through each neuron's delay line (Lava's buffer: send column 0, move the rest forward,
//     add this step's activation of delay d to column d)
//   Conv (and sum pool, a depthwise conv with a constant kernel): a_accum is Lava's
//     convolution of the input image (x, y, channel) with the flipped kernel, and
//     a = wrap24(a_accum << weight_exp), a modulo into signed 24 bits (Lava's signed_clamp)
//   u = wrap24(decay(u, du + 1) + (a_prev << 6))     one conditional correction, not modulo
//   v = clip(decay(v, dv) + u + (bias_mant << bias_exp), -(2^23 - 1), 2^23 - 1)
//   spike when v > (vth << 6); then v = 0, or v -= vth << 6 where the layer's reset word is
//   RESET_SUBTRACT (snnTorch's default); u is not reset
// with decay(x, d) = sign(x * (4096 - d)) * (|x * (4096 - d)| >> 12) on a 64-bit product.
#ifndef SNAP_LIF_CORE_H
#define SNAP_LIF_CORE_H

#include <cstdint>
#include <type_traits>

#include "lif_params.h"

constexpr int DECAY_SHIFT = 12;
constexpr int64_t DECAY_UNITY = int64_t(1) << DECAY_SHIFT;
constexpr int ACT_SHIFT = 6;
constexpr int VTH_SHIFT = 6;
constexpr int DU_OFFSET = 1;
constexpr int32_t RESET_SUBTRACT = 1;  // a layer's reset word: 0 to zero, 1 by subtraction
constexpr int64_t STATE_LIMIT = int64_t(1) << 23;
constexpr int64_t V_MAX = STATE_LIMIT - 1;
constexpr int IN_WORDS = (N_IN + 31) / 32;    // one bit per input channel and step
constexpr int OUT_WORDS = (N_OUT + 31) / 32;  // one bit per output neuron and step
constexpr int STATE_WORDS = 2 * N_NEURONS + N_PENDING;  // u, v per neuron; pending activations

// Synapse engines (LAYER_KIND) and the fields of a conv layer's LAYER_CONV row.
constexpr int KIND_DENSE = 0;
constexpr int KIND_DELAY = 1;
constexpr int KIND_CONV = 2;
enum ConvField { CONV_X, CONV_Y, CONV_C, CONV_XO, CONV_YO, CONV_CO, CONV_KX, CONV_KY,
                 CONV_SX, CONV_SY, CONV_PX, CONV_PY, CONV_DX, CONV_DY, CONV_GROUPS };
constexpr int CONV_ACT_BITS = 24;  // Lava's Conv wraps its activation into signed 24 bits
// Arrays of at least one element where a partition has none (no delay layer).
constexpr int DELAY_MEM_WORDS = N_DELAYS > 0 ? N_DELAYS : 1;

static_assert(WEIGHT_BITS >= 1 && WEIGHT_BITS <= 16, "weights are stored in at most 16 bits");
static_assert(STATE_BITS >= 24, "the LIF needs 24-bit current and voltage registers");
// Every Dense accumulator sum of |mantissa| <= 2^15 over at most MAX_DENSE_IN inputs fits 32
// bits (a conv's sums are held below 2^31 when the layer is validated, as Lava's Conv holds them).
static_assert(int64_t(MAX_DENSE_IN) << 15 < (int64_t(1) << 31), "accumulator would overflow");

// A stored weight mantissa: the narrowest C type that holds WEIGHT_BITS; on load the
// value is sign-extended from exactly WEIGHT_BITS bits, as a BRAM of that width would.
typedef std::conditional<(WEIGHT_BITS <= 8), int8_t, int16_t>::type weight_t;
typedef int32_t acc_t;   // synapse accumulator: the full sum, never truncated
typedef int64_t state_t; // u, v and the pending activation (u may leave 24 bits: see wrap24)
typedef uint8_t spike_t;

struct LayerCfg {
  int32_t weight_exp;
  int32_t du;
  int32_t dv;
  int32_t vth;
  int32_t bias_exp;
  int32_t reset;
};

// x * 2^e for e >= 0, arithmetic x >> -e otherwise (a multiply: defined for negative x).
static inline state_t shift_exp(state_t x, int32_t e) {
  return e >= 0 ? x * (state_t(1) << e) : (x >> -e);
}

// Multiply by (4096 - d) / 4096 rounding toward zero, on a 64-bit product.
static inline state_t decay(state_t x, int32_t d) {
  const state_t product = x * (DECAY_UNITY - d);
  return product < 0 ? -((-product) >> DECAY_SHIFT) : (product >> DECAY_SHIFT);
}

// Lava's one-step 24-bit correction: above 2^23 subtract 2^24, at or below -2^23 add 2^24.
static inline state_t wrap24(state_t u) {
  if (u > STATE_LIMIT) u -= 2 * STATE_LIMIT;
  if (u <= -STATE_LIMIT) u += 2 * STATE_LIMIT;
  return u;
}

static inline state_t clip_v(state_t v) {
  return v > V_MAX ? V_MAX : (v < -V_MAX ? -V_MAX : v);
}

// x modulo 2^bits as a signed value: Lava's signed_clamp of a conv activation.
static inline state_t wrap_bits(state_t x, int bits) {
  const state_t half = state_t(1) << (bits - 1);
  return ((x + half) & (2 * half - 1)) - half;
}

// Sign-extend the low `bits` bits of x, as a signed memory word of that width holds it.
static inline int32_t to_width(int32_t x, int bits) {
  const uint32_t mask = (bits >= 32) ? 0xffffffffu : ((uint32_t(1) << bits) - 1u);
  const uint32_t sign = uint32_t(1) << (bits - 1);
  return int32_t(((uint32_t(x) & mask) ^ sign) - sign);
}

// The top function Vitis HLS synthesizes (ap_ctrl_hs, AXI-Lite control, AXI masters).
//   spikes_in  [batch][steps][IN_WORDS]   bit i % 32 of word i / 32 is input channel i
//   spikes_out [batch][steps][OUT_WORDS]  the last layer's spikes, same packing
//   state      [batch][STATE_WORDS]       u [N_NEURONS], v [N_NEURONS], then every layer's
//                                         pending activations [neuron][column] (column k
//                                         arrives k + 1 steps later); read, run, written back
//   params     [IMAGE_WORDS]              read into the on-chip memories when load != 0
void lif_core(const uint32_t* spikes_in, uint32_t* spikes_out, state_t* state,
              const int32_t* params, uint32_t steps, uint32_t batch, uint32_t load);

#endif
