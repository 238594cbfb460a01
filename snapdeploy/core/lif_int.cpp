// The integer neuron of snapdeploy/core/neuron.py, compiled: the same operations in the same
// order on int64, so its spikes and states are bit-equal to the numpy specification (the
// property tests in tests/core/test_lif_native.py compare them on random layers). The update
// itself is lif_update.h's, shared with the conv layer kernel (conv_int.cpp).
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

#include "lif_update.h"

namespace {

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

}  // namespace

extern "C" {

// `count` neurons (rows x n flattened) one step; bias is per neuron of a row of length n.
void lif_int_step(int64_t rows, int64_t n, int64_t* u, int64_t* v, const int64_t* activation,
                  const int64_t* bias, int64_t du, int64_t dv, int64_t vth, int64_t subtract,
                  uint8_t* spikes, int threads) {
  const lif::Neuron p = lif::neuron(du, dv, vth, subtract);
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t at = row * n;
#pragma omp simd
    for (int64_t j = 0; j < n; ++j)
      spikes[at + j] = lif::fire(u[at + j], v[at + j], activation[at + j], bias[j], p);
  }
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
  const lif::Neuron p = lif::neuron(du, dv, vth, subtract);
#pragma omp parallel num_threads(threads)
  {
    std::vector<int64_t> active(n_in);
    std::vector<int32_t> sums(n_out);  // |sum| <= 128 * n_in: int32 up to 16M inputs
#pragma omp for schedule(static)
    for (int64_t row = 0; row < rows; ++row) {
      int64_t* pending_row = pending + row * n_out;
      for (int64_t t = 0; t < steps; ++t) {
        const int64_t at = t * rows + row;
        const uint8_t* fired = spikes_in + at * n_in;
        int64_t n_active = 0;
        for (int64_t i = 0; i < n_in; ++i) {
          active[n_active] = i;
          n_active += fired[i] != 0;
        }
        add_columns(half_weights_t, n_out, active.data(), n_active, sums.data());
        int64_t* u_row = u + row * n_out;
        int64_t* v_row = v + row * n_out;
        uint8_t* out = spikes_out + at * n_out;
#pragma omp simd
        for (int64_t j = 0; j < n_out; ++j) {
          out[j] = lif::fire(u_row[j], v_row[j], pending_row[j], bias[j], p);
          pending_row[j] = shift(2 * int64_t(sums[j]), weight_exp);
        }
      }
    }
  }
}

}  // extern "C"
