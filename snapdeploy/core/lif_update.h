// The integer neuron's update (snapdeploy/core/neuron.py's lif_step), shared by the compiled
// kernels that run a whole layer (lif_int.cpp: Dense; conv_int.cpp: Conv and sum pooling), so
// every synapse feeds the one update rather than a copy of it. Header-only, inline.
//
//     u = wrap24(decay(u, du + 1) + a * 64)
//     v = clip(decay(v, dv) + u + bias, -(2**23 - 1), 2**23 - 1)
//     s = v > vth * 64;  v = s ? 0 : v      (reset by subtraction: v = s ? v - vth * 64 : v)
// decay(x, d) = sign(x * (4096 - d)) * (|x * (4096 - d)| >> 12), rounding toward zero.
#pragma once

#include <algorithm>
#include <cstdint>

namespace lif {

constexpr int64_t kDecayUnity = 4096;
constexpr int64_t kStateLimit = int64_t(1) << 23;
constexpr int64_t kVMax = kStateLimit - 1;
constexpr int64_t kActScale = 64;  // a << 6, as a product: a left shift of a negative is UB

inline int64_t decay(int64_t x, int64_t keep) {
  const int64_t product = x * keep;
  return product >= 0 ? product >> 12 : -((-product) >> 12);
}

struct Neuron {
  int64_t keep_u, keep_v, vth_scaled;
  int64_t reset_to;  // 0: v = 0 on a spike; 1: v -= vth_scaled (subtract reset)
};

inline Neuron neuron(int64_t du, int64_t dv, int64_t vth, int64_t subtract) {
  return {kDecayUnity - (du + 1), kDecayUnity - dv, vth * 64, subtract};
}

// One LIF step of one neuron in place on the activation `a` arriving now; whether it fired.
// Callers loop it under `omp simd` over a layer, each folding in its own synapse's work.
inline bool fire(int64_t& u, int64_t& v, int64_t a, int64_t bias, Neuron p) {
  int64_t uj = decay(u, p.keep_u) + a * kActScale;
  uj = uj > kStateLimit ? uj - 2 * kStateLimit : uj;
  uj = uj <= -kStateLimit ? uj + 2 * kStateLimit : uj;
  u = uj;
  int64_t vj = decay(v, p.keep_v) + uj + bias;
  vj = std::min(std::max(vj, -kVMax), kVMax);
  const bool fired = vj > p.vth_scaled;
  v = fired ? (p.reset_to ? vj - p.vth_scaled : 0) : vj;
  return fired;
}

}  // namespace lif
