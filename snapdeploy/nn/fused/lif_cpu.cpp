// Temporal-fused multi-step LIF for the CPU: one pass over all T steps forward, one back.
//
// Same arithmetic, operation for operation, as snapdeploy.nn.lif.lif_sequence, so spikes are
// bit-equal to the step loop (build with -ffp-contract=off: a fused multiply-add would round
// differently from torch's separate multiply and add):
//     u = u * ku + a                 ku = 1 - du
//     w = (v * kv + u) + bias        kv = 1 - dv
//     x = w - vth;  s = x > 0;  v = s ? 0 : w     (reset detached from the gradient)
//     subtract reset: v = s ? x : w, the loop's w - s * vth (s detached, vth not)
// Backward walks time in reverse with the surrogate ds/dx = 1 / (1 + slope * |x|)^2:
//     gw = gs * ds/dx + (s ? 0 : gv),   gu = gw + cu,   da = gu,   gv' = kv * gw,   cu' = ku * gu
//     subtract reset: gw = gs * ds/dx + gv, and the threshold also gets -gv where s fires
//
// Nothing but the input current is kept for backward: for each block of neurons, backward
// first re-runs the forward steps (same code, so the same x bit for bit) into a small
// per-thread buffer of T x block values that stays in L2, then walks it back. Storing x in
// forward instead costs a full [T, rows, n] write (plus the page faults of a fresh tensor)
// and a full read, against one more read of the current here: the recomputed arithmetic is
// cheaper than that memory traffic on a CPU.
//
// Tensors are contiguous [T, rows, n]; each thread owns blocks of neurons and keeps their
// state in small local arrays, so every element is read and written once per pass.
// Plain C ABI, no torch headers: the Python side passes data pointers (see build.py).

#include <sys/mman.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#if defined(__AVX__)
#include <immintrin.h>
#endif

namespace {

// Neurons per work item. Each time step of an item reads and writes one segment of that
// many values, 8 MiB apart from the next step's at 128x16384: 2048 floats (8 KiB) stream
// faster than 512 (forward on one core 0.66 vs 0.72 ns per element; backward, whose replay
// block grows with it, 1.3x faster), and the state (u, v: 16 KiB) still sits in L1.
constexpr int64_t kBlock = 2048;
constexpr int64_t kGrain = 32768;  // elements per thread below which one thread is faster
                                   // (torch's grain size: waking a thread costs more)
constexpr int64_t kReplayBytes = 256 * 1024;  // backward's replay buffer (T x block): in L2
constexpr int64_t kItemsWanted = 64;  // backward work items to aim for (load balance)
constexpr int64_t kPartial = 8;  // steps summed in T before adding into the double sums

struct Shape {
  int64_t steps, rows, n, block;
  int64_t blocks_per_row() const { return (n + block - 1) / block; }
  int64_t stride() const { return rows * n; }  // elements per time step
  int64_t items() const { return rows * blocks_per_row(); }
  int threads(int most, int64_t work_items) const {
    const int64_t useful = std::min(work_items, steps * stride() / kGrain);
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

// Copies `count` values from a small buffer in L1 to their place in an output tensor with
// non-temporal (streaming) stores: the [T, rows, n] outputs are written once and far larger
// than the caches, and an ordinary store first reads each line in (the outputs' share of
// the memory traffic is then half as much again). Measured at 128x16384, T=32, 2 threads:
// forward 46 -> 40 ms, backward 59 -> 52 ms.
template <typename T>
inline void stream_out(T* __restrict dst, const T* __restrict src, int64_t count) {
#if defined(__AVX__)
  char* out = reinterpret_cast<char*>(dst);
  const char* in = reinterpret_cast<const char*>(src);
  const int64_t bytes = count * int64_t(sizeof(T));
  int64_t done = std::min<int64_t>(bytes, (-reinterpret_cast<intptr_t>(out)) & 31);
  std::memcpy(out, in, done);  // up to 32-byte alignment (element sizes divide it)
  for (; done + 32 <= bytes; done += 32)
    _mm256_stream_si256(reinterpret_cast<__m256i*>(out + done),
                        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + done)));
  std::memcpy(out + done, in + done, bytes - done);
#else
  std::copy(src, src + count, dst);
#endif
}

inline void stream_fence() {
#if defined(__AVX__)
  _mm_sfence();  // make the streamed stores visible before the caller reads the outputs
#endif
}

// One time step for `len` neurons: forward writes the spikes, backward's replay writes x.
// Both run this very code, so the replayed x is the x that decided each spike.
template <typename T, bool kSpikes>
inline void step(const T* __restrict a, const T* __restrict b, T* __restrict out,
                 T* __restrict u, T* __restrict v, int64_t len, T ku, T kv, T vth,
                 bool subtract) {
#pragma omp simd
  for (int64_t j = 0; j < len; ++j) {
    const T uu = u[j] * ku + a[j];
    const T w = v[j] * kv + uu + b[j];
    const T x = w - vth;
    const bool fire = x > T(0);
    if constexpr (kSpikes)
      out[j] = fire ? T(1) : T(0);
    else
      out[j] = x;
    v[j] = fire ? (subtract ? x : T(0)) : w;
    u[j] = uu;
  }
}

template <typename T>
void forward(const T* current, const T* bias, T* spikes, T* u_last, T* v_last, Shape shape,
             T ku, T kv, T vth, bool subtract, int threads) {
  advise_huge_pages(spikes, shape.steps * shape.stride());
  advise_huge_pages(u_last, shape.stride());
  advise_huge_pages(v_last, shape.stride());
  const int64_t items = shape.items();
#pragma omp parallel num_threads(shape.threads(threads, items))
  {
#pragma omp for schedule(dynamic, 8) nowait
    for (int64_t item = 0; item < items; ++item) {
      const int64_t row = item / shape.blocks_per_row();
      const int64_t first = (item % shape.blocks_per_row()) * kBlock;
      const int64_t len = std::min(kBlock, shape.n - first);
      const int64_t cell = row * shape.n + first;
      alignas(64) T u[kBlock], v[kBlock], s[kBlock];
      std::fill(u, u + len, T(0));
      std::fill(v, v + len, T(0));
      for (int64_t t = 0; t < shape.steps; ++t) {
        const int64_t at = t * shape.stride() + cell;
        step<T, true>(current + at, bias + first, s, u, v, len, ku, kv, vth, subtract);
        stream_out(spikes + at, s, len);
      }
      std::copy(u, u + len, u_last + cell);
      std::copy(v, v + len, v_last + cell);
    }
    stream_fence();  // this thread's streamed stores, before the closing barrier
  }
}

// Neurons per backward item: as many as keep the T x block replay buffer in L2 (at most
// kBlock, at least 16). It depends on T and the dtype only, never on the thread count.
template <typename T>
int64_t replay_block(int64_t steps) {
  int64_t block = kBlock;
  while (block > 16 && steps * block * int64_t(sizeof(T)) > kReplayBytes) block /= 2;
  return block;
}

// Rows per backward work item: an item runs one block of neurons through `chunk` rows in
// turn and sums the bias and threshold gradients of all of them, so the per-cell sums the
// caller reduces are [chunks, n], not [rows, n]. Fixed by the shape alone (not the thread
// count), so the sums are added in the same order whatever the thread count.
int64_t rows_per_item(const Shape& shape) {
  if (shape.rows == 0 || shape.n == 0) return 1;
  const int64_t chunks = std::min(
      shape.rows, std::max<int64_t>(1, (kItemsWanted + shape.blocks_per_row() - 1) /
                                           shape.blocks_per_row()));
  return (shape.rows + chunks - 1) / chunks;
}

int64_t row_chunks(int64_t steps, int64_t rows, int64_t n, int64_t block) {
  const Shape shape{steps, rows, n, block};
  const int64_t chunk = rows_per_item(shape);
  return (rows + chunk - 1) / chunk;
}

// grad_spikes is [T, rows, n], or null when it is the one value `grad_spike` everywhere (the
// gradient of spikes.sum() is such an expanded scalar: no need to write it out and read it).
// grad_u_last / grad_v_last may be null (zero). grad_bias_cells and grad_vth_cells are
// [chunks, n] sums over time and the rows of each chunk, in double so the long sums lose
// nothing (each run of kPartial steps is summed in T first: adding into double every step
// cost a third of the backward loop); the caller reduces them over chunks.
template <typename T>
void backward(const T* current, const T* bias, const T* grad_spikes, T grad_spike,
              const T* grad_u_last, const T* grad_v_last, T* grad_current,
              double* grad_bias_cells, double* grad_vth_cells, Shape shape, T ku, T kv, T vth,
              T slope, bool subtract, int threads) {
  advise_huge_pages(grad_current, shape.steps * shape.stride());
  const int64_t block = shape.block;
  const int64_t chunk = rows_per_item(shape);
  const int64_t chunks = (shape.rows + chunk - 1) / chunk;
  const int64_t items = chunks * shape.blocks_per_row();
#pragma omp parallel num_threads(shape.threads(threads, items))
  {
    std::vector<T> replay_buffer(shape.steps * block);
    T* replay = replay_buffer.data();
    std::vector<T> state(6 * block);
    T* u = state.data();
    T* v = u + block;
    T* gv = v + block;
    T* cu = gv + block;
    T* pb = cu + block;  // partial sums of the last few steps, in T: cheaper per step
    T* pth = pb + block;
    std::vector<T> out_buffer(block);
    T* ga = out_buffer.data();
    std::vector<double> sums(2 * block);
    double* gb = sums.data();
    double* gth = gb + block;
#pragma omp for schedule(dynamic, 1) nowait
    for (int64_t item = 0; item < items; ++item) {
      const int64_t first = (item % shape.blocks_per_row()) * block;
      const int64_t len = std::min(block, shape.n - first);
      const int64_t row_begin = (item / shape.blocks_per_row()) * chunk;
      const int64_t row_end = std::min(shape.rows, row_begin + chunk);
      const T* b = bias + first;
      std::fill(gb, gb + len, 0.0);
      std::fill(gth, gth + len, 0.0);
      for (int64_t row = row_begin; row < row_end; ++row) {
        const int64_t cell = row * shape.n + first;
        std::fill(u, u + len, T(0));
        std::fill(v, v + len, T(0));
        for (int64_t t = 0; t < shape.steps; ++t)
          step<T, false>(current + t * shape.stride() + cell, b, replay + t * len, u, v, len,
                         ku, kv, vth, subtract);
        if (grad_v_last) std::copy(grad_v_last + cell, grad_v_last + cell + len, gv);
        else std::fill(gv, gv + len, T(0));
        if (grad_u_last) std::copy(grad_u_last + cell, grad_u_last + cell + len, cu);
        else std::fill(cu, cu + len, T(0));
        std::fill(pb, pb + 2 * block, T(0));
        for (int64_t t = shape.steps - 1; t >= 0; --t) {
          const int64_t at = t * shape.stride() + cell;
          const T* __restrict x_in = replay + t * len;
          const T* __restrict gs = grad_spikes ? grad_spikes + at : nullptr;
          // One body, two instantiations: a per-element gradient, or the one value of an
          // expanded gradient (spikes.sum()), which is never materialized as a tensor.
          const auto walk_back = [&](auto grad_at) {
#pragma omp simd
            for (int64_t j = 0; j < len; ++j) {
              const T x = x_in[j];
              const T d = T(1) + slope * std::abs(x);
              const T sg = grad_at(j) / (d * d);
              const bool fired = x > T(0);
              const T gw = sg + (fired && !subtract ? T(0) : gv[j]);
              const T gu = gw + cu[j];
              ga[j] = gu;
              pb[j] += gw;
              pth[j] += fired && subtract ? sg + gv[j] : sg;
              gv[j] = gw * kv;
              cu[j] = gu * ku;
            }
          };
          if (gs)
            walk_back([gs](int64_t j) { return gs[j]; });
          else
            walk_back([grad_spike](int64_t) { return grad_spike; });
          stream_out(grad_current + at, ga, len);
          if (t % kPartial == 0) {  // fixed by t alone: the same sums whatever the threads
#pragma omp simd
            for (int64_t j = 0; j < len; ++j) {
              gb[j] += pb[j];
              gth[j] += pth[j];
              pb[j] = T(0);
              pth[j] = T(0);
            }
          }
        }
      }
      const int64_t out = (row_begin / chunk) * shape.n + first;
      std::copy(gb, gb + len, grad_bias_cells + out);
      std::copy(gth, gth + len, grad_vth_cells + out);
    }
    stream_fence();  // this thread's streamed stores, before the closing barrier
  }
}

}  // namespace

extern "C" {

#define SNAPDEPLOY_LIF_EXPORTS(T, suffix)                                                      \
  void lif_forward_##suffix(const T* current, const T* bias, T* spikes, T* u_last, T* v_last,  \
                            int64_t steps, int64_t rows, int64_t n, T ku, T kv, T vth,         \
                            int subtract, int threads) {                                       \
    forward<T>(current, bias, spikes, u_last, v_last, Shape{steps, rows, n, kBlock}, ku, kv,   \
               vth, subtract != 0, threads);                                                   \
  }                                                                                            \
  int64_t lif_backward_cells_##suffix(int64_t steps, int64_t rows, int64_t n) {                \
    return row_chunks(steps, rows, n, replay_block<T>(steps));                                 \
  }                                                                                            \
  void lif_backward_##suffix(const T* current, const T* bias, const T* grad_spikes,            \
                             T grad_spike, const T* grad_u_last, const T* grad_v_last,         \
                             T* grad_current, double* grad_bias_cells, double* grad_vth_cells, \
                             int64_t steps, int64_t rows, int64_t n, T ku, T kv, T vth,        \
                             T slope, int subtract, int threads) {                             \
    backward<T>(current, bias, grad_spikes, grad_spike, grad_u_last, grad_v_last,              \
                grad_current, grad_bias_cells, grad_vth_cells,                                 \
                Shape{steps, rows, n, replay_block<T>(steps)}, ku, kv, vth, slope,             \
                subtract != 0, threads);                                                       \
  }

SNAPDEPLOY_LIF_EXPORTS(float, f32)
SNAPDEPLOY_LIF_EXPORTS(double, f64)

#undef SNAPDEPLOY_LIF_EXPORTS
}
