// Temporal-fused multi-step LIF for the CPU: one pass over all T steps forward, one back.
//
// Same arithmetic, operation for operation, as snapdeploy.nn.lif.lif_sequence, so spikes are
// bit-equal to the step loop (build with -ffp-contract=off: a fused multiply-add would round
// differently from torch's separate multiply and add):
//     u = u * ku + a                 ku = 1 - du
//     w = (v * kv + u) + bias        kv = 1 - dv
//     x = w - vth;  s = x > 0;  v = s ? 0 : w     (reset detached from the gradient)
// Backward walks time in reverse with the surrogate ds/dx = 1 / (1 + slope * |x|)^2:
//     gw = gs * ds/dx + (s ? 0 : gv),   gu = gw + cu,   da = gu,   gv' = kv * gw,   cu' = ku * gu
// Tensors are contiguous [T, rows, n]; each thread owns blocks of neurons of one row and keeps
// their state in small local arrays, so every element is read and written once per pass.
// Plain C ABI, no torch headers: the Python side passes data pointers (see build.py).

#include <sys/mman.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace {

constexpr int64_t kBlock = 512;   // neurons per work item: state stays in L1
constexpr int64_t kGrain = 32768;  // elements per thread below which one thread is faster
                                   // (torch's grain size: waking a thread costs more)

struct Shape {
  int64_t steps, rows, n;
  int64_t blocks_per_row() const { return (n + kBlock - 1) / kBlock; }
  int64_t stride() const { return rows * n; }  // elements per time step
  int64_t items() const { return rows * blocks_per_row(); }
  int threads(int most) const {
    const int64_t useful = std::min(items(), steps * stride() / kGrain);
    return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(most, useful)));
  }
};

// The outputs are fresh allocations; on first touch a 4 KiB page fault each cost more than
// the kernel's arithmetic (measured: 0.2 s faulting vs 0.05 s computing 32x32x16384 steps).
// Asking for transparent huge pages on the 2 MiB-aligned interior makes that 512x fewer.
template <typename T>
void advise_huge_pages(T* data, int64_t count) {
  constexpr uintptr_t kHuge = uintptr_t(1) << 21;
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(data) + kHuge - 1) & ~(kHuge - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(data + count)) & ~(kHuge - 1);
  if (data != nullptr && end > begin)
    madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);  // a hint: may fail
}

template <typename T, bool kSave>
void forward(const T* current, const T* bias, T* spikes, T* saved, T* u_last, T* v_last,
             Shape shape, T ku, T kv, T vth, int threads) {
  advise_huge_pages(spikes, shape.steps * shape.stride());
  if constexpr (kSave) advise_huge_pages(saved, shape.steps * shape.stride());
#pragma omp parallel for num_threads(shape.threads(threads)) schedule(static)
  for (int64_t item = 0; item < shape.items(); ++item) {
    const int64_t row = item / shape.blocks_per_row();
    const int64_t first = (item % shape.blocks_per_row()) * kBlock;
    const int64_t len = std::min(kBlock, shape.n - first);
    const int64_t cell = row * shape.n + first;
    const T* b = bias + first;
    T u[kBlock], v[kBlock];
    std::fill(u, u + len, T(0));
    std::fill(v, v + len, T(0));
    for (int64_t t = 0; t < shape.steps; ++t) {
      const int64_t at = t * shape.stride() + cell;
      const T* a = current + at;
      T* s = spikes + at;
      T* x_out = saved + at;
#pragma omp simd
      for (int64_t j = 0; j < len; ++j) {
        const T uu = u[j] * ku + a[j];
        const T w = v[j] * kv + uu + b[j];
        const T x = w - vth;
        const bool fire = x > T(0);
        s[j] = fire ? T(1) : T(0);
        if constexpr (kSave) x_out[j] = x;
        v[j] = fire ? T(0) : w;
        u[j] = uu;
      }
    }
    std::copy(u, u + len, u_last + cell);
    std::copy(v, v + len, v_last + cell);
  }
}

// grad_bias_cells and grad_vth_cells are per (row, neuron) sums over time, in double so the
// long sums lose nothing; the caller reduces them over rows.
template <typename T>
void backward(const T* saved, const T* grad_spikes, const T* grad_u_last, const T* grad_v_last,
              T* grad_current, double* grad_bias_cells, double* grad_vth_cells, Shape shape,
              T ku, T kv, T slope, int threads) {
  advise_huge_pages(grad_current, shape.steps * shape.stride());
#pragma omp parallel for num_threads(shape.threads(threads)) schedule(static)
  for (int64_t item = 0; item < shape.items(); ++item) {
    const int64_t row = item / shape.blocks_per_row();
    const int64_t first = (item % shape.blocks_per_row()) * kBlock;
    const int64_t len = std::min(kBlock, shape.n - first);
    const int64_t cell = row * shape.n + first;
    T gv[kBlock], cu[kBlock];
    double gb[kBlock], gth[kBlock];
    std::copy(grad_v_last + cell, grad_v_last + cell + len, gv);
    std::copy(grad_u_last + cell, grad_u_last + cell + len, cu);
    std::fill(gb, gb + len, 0.0);
    std::fill(gth, gth + len, 0.0);
    for (int64_t t = shape.steps - 1; t >= 0; --t) {
      const int64_t at = t * shape.stride() + cell;
      const T* x_in = saved + at;
      const T* gs = grad_spikes + at;
      T* ga = grad_current + at;
#pragma omp simd
      for (int64_t j = 0; j < len; ++j) {
        const T x = x_in[j];
        const T d = T(1) + slope * std::abs(x);
        const T sg = gs[j] / (d * d);
        const T gw = sg + (x > T(0) ? T(0) : gv[j]);
        const T gu = gw + cu[j];
        ga[j] = gu;
        gb[j] += gw;
        gth[j] += sg;
        gv[j] = gw * kv;
        cu[j] = gu * ku;
      }
    }
    std::copy(gb, gb + len, grad_bias_cells + cell);
    std::copy(gth, gth + len, grad_vth_cells + cell);
  }
}

}  // namespace

extern "C" {

#define SNAPDEPLOY_LIF_EXPORTS(T, suffix)                                                      \
  void lif_forward_##suffix(const T* current, const T* bias, T* spikes, T* saved, T* u_last,   \
                            T* v_last, int64_t steps, int64_t rows, int64_t n, T ku, T kv,     \
                            T vth, int threads) {                                              \
    const Shape shape{steps, rows, n};                                                         \
    if (saved)                                                                                 \
      forward<T, true>(current, bias, spikes, saved, u_last, v_last, shape, ku, kv, vth,       \
                       threads);                                                               \
    else                                                                                       \
      forward<T, false>(current, bias, spikes, saved, u_last, v_last, shape, ku, kv, vth,      \
                        threads);                                                              \
  }                                                                                            \
  void lif_backward_##suffix(const T* saved, const T* grad_spikes, const T* grad_u_last,       \
                             const T* grad_v_last, T* grad_current, double* grad_bias_cells,   \
                             double* grad_vth_cells, int64_t steps, int64_t rows, int64_t n,   \
                             T ku, T kv, T slope, int threads) {                               \
    backward<T>(saved, grad_spikes, grad_u_last, grad_v_last, grad_current, grad_bias_cells,   \
                grad_vth_cells, Shape{steps, rows, n}, ku, kv, slope, threads);                \
  }

SNAPDEPLOY_LIF_EXPORTS(float, f32)
SNAPDEPLOY_LIF_EXPORTS(double, f64)

#undef SNAPDEPLOY_LIF_EXPORTS
}
