// The integer neuron of snapdeploy/core/neuron.py, compiled: the same operations in the same
// order on int64, so its spikes and states are bit-equal to the numpy specification (the
// property tests in tests/core/test_lif_native.py compare them on random layers).
//
//     u = wrap24(decay(u, du + 1) + a * 64)
//     v = clip(decay(v, dv) + u + bias, -(2**23 - 1), 2**23 - 1)
//     s = v > vth * 64;  v = s ? 0 : v      (reset by subtraction: v = s ? v - vth * 64 : v)
// decay(x, d) = sign(x * (4096 - d)) * (|x * (4096 - d)| >> 12), rounding toward zero.
//
// Why compiled: numpy runs each of those lines as a separate pass over the arrays, a dozen
// per step, and a step of a small layer is dominated by the per-call cost of those passes.
// Here one loop per step keeps u and v in registers, and the Dense synapse is event-driven:
// a spike adds its weight column (transposed [n_in, n_out]) to the accumulator, so a
// step costs (spikes in) x (n_out) adds instead of a full matrix product.
// Plain C ABI, no Python headers; the Python side passes data pointers (lif_native.py).

#include <algorithm>
#include <cstdint>
#include <vector>

namespace {

constexpr int64_t kDecayUnity = 4096;
constexpr int64_t kStateLimit = int64_t(1) << 23;
constexpr int64_t kVMax = kStateLimit - 1;
constexpr int64_t kActScale = 64;
constexpr int64_t kOutBlock = 256;  // a << 6, as a product: a left shift of a negative is UB

inline int64_t decay(int64_t x, int64_t keep) {
  const int64_t product = x * keep;
  return product >= 0 ? product >> 12 : -((-product) >> 12);
}

struct Neuron {
  int64_t keep_u, keep_v, vth_scaled;
  int64_t reset_to;  // 0: v = 0 on a spike; 1: v -= vth_scaled (subtract reset)
};

// One LIF step of `n` neurons in place; spikes as 0/1 bytes.
inline void lif_update(int64_t n, int64_t* u, int64_t* v, const int64_t* activation,
                       const int64_t* bias, Neuron p, uint8_t* spikes) {
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) {
    int64_t uj = decay(u[j], p.keep_u) + activation[j] * kActScale;
    uj = uj > kStateLimit ? uj - 2 * kStateLimit : uj;
    uj = uj <= -kStateLimit ? uj + 2 * kStateLimit : uj;
    u[j] = uj;
    int64_t vj = decay(v[j], p.keep_v) + uj + bias[j];
    vj = std::min(std::max(vj, -kVMax), kVMax);
    const bool fired = vj > p.vth_scaled;
    spikes[j] = fired;
    v[j] = fired ? (p.reset_to ? vj - p.vth_scaled : 0) : vj;
  }
}

// Dense's shift of the summed weights: left for exp >= 0, arithmetic right otherwise.
inline int64_t shift(int64_t x, int64_t exp) {
  return exp >= 0 ? x * (int64_t(1) << exp) : x >> -exp;
}

// sums = the sum of the `n_active` columns listed in `active`. Four columns per pass over the
// sums: the sums' loads and stores, not the columns', bound the simpler one-column loop.
void add_columns(const int8_t* columns, int64_t n, const int64_t* active, int64_t n_active,
                 int32_t* sums) {
  std::fill(sums, sums + n, 0);
  int64_t k = 0;
  for (; k + 4 <= n_active; k += 4) {
    const int8_t* c0 = columns + active[k] * n;
    const int8_t* c1 = columns + active[k + 1] * n;
    const int8_t* c2 = columns + active[k + 2] * n;
    const int8_t* c3 = columns + active[k + 3] * n;
#pragma omp simd
    for (int64_t j = 0; j < n; ++j)
      sums[j] += (int32_t(c0[j]) + c1[j]) + (int32_t(c2[j]) + c3[j]);
  }
  for (; k < n_active; ++k) {
    const int8_t* c = columns + active[k] * n;
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) sums[j] += c[j];
  }
}

Neuron neuron(int64_t du, int64_t dv, int64_t vth, int64_t subtract) {
  return {kDecayUnity - (du + 1), kDecayUnity - dv, vth * 64, subtract};
}

}  // namespace

extern "C" {

// `count` neurons (rows x n flattened) one step; bias is per neuron of a row of length n.
void lif_int_step(int64_t rows, int64_t n, int64_t* u, int64_t* v, const int64_t* activation,
                  const int64_t* bias, int64_t du, int64_t dv, int64_t vth, int64_t subtract,
                  uint8_t* spikes, int threads) {
  const Neuron p = neuron(du, dv, vth, subtract);
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t row = 0; row < rows; ++row)
    lif_update(n, u + row * n, v + row * n, activation + row * n, bias, p, spikes + row * n);
}

// A window of T steps of one Dense + LIF layer, each row (batch item) on its own:
//     lif(pending);  pending = shift(2 * sum of half-weight columns of this step's input spikes)
// u, v, pending: int64 [rows, n_out] in place; spikes_in uint8 [T, rows, n_in];
// half_weights_t int8 [n_in, n_out]: weights are even in [-256, 254], so w / 2 fits a byte and
// a column costs a quarter of the cache traffic of int32; spikes_out uint8 [T, rows, n_out].
void lif_int_layer(int64_t steps, int64_t rows, int64_t n_in, int64_t n_out,
                   const uint8_t* spikes_in, const int8_t* half_weights_t, int64_t weight_exp,
                   int64_t* u, int64_t* v, int64_t* pending, const int64_t* bias, int64_t du,
                   int64_t dv, int64_t vth, int64_t subtract, uint8_t* spikes_out, int threads) {
  const Neuron p = neuron(du, dv, vth, subtract);
#pragma omp parallel num_threads(threads)
  {
    std::vector<int64_t> active(n_in);
    std::vector<int32_t> sums(n_out);  // |sum| <= 128 * n_in: int32 up to 16M inputs
#pragma omp for schedule(static)
    for (int64_t row = 0; row < rows; ++row) {
      int64_t* pending_row = pending + row * n_out;
      for (int64_t t = 0; t < steps; ++t) {
        const int64_t at = t * rows + row;
        lif_update(n_out, u + row * n_out, v + row * n_out, pending_row, bias, p,
                   spikes_out + at * n_out);
        const uint8_t* fired = spikes_in + at * n_in;
        int64_t n_active = 0;
        for (int64_t i = 0; i < n_in; ++i) {
          active[n_active] = i;
          n_active += fired[i] != 0;
        }
        add_columns(half_weights_t, n_out, active.data(), n_active, sums.data());
        for (int64_t j = 0; j < n_out; ++j) pending_row[j] = shift(2 * int64_t(sums[j]), weight_exp);
      }
    }
  }
}

}  // extern "C"
