// Lava's Conv of snapdeploy/core/conv.py, compiled and event-driven: each input spike scatters
// its kernel slice into the output positions whose window holds it, so a step costs
// (spikes in) x (taps that land) x (output channels of its group) adds instead of a dense
// product over every position. Sums are exact int64, bit-equal to the numpy im2col
// specification (tests/core/test_conv_native.py compares them on random convs).
//
//     out[xo, yo, k] += W[k, kx-1-i, ky-1-j, c'] for each spike at (x, y, c), each tap (i, j)
//     with x + px = xo * sx + i * dx and y + py = yo * sy + j * dy, k in c's group
//
// The caller lays the flipped kernel out as [kx, ky, C_in, C_out / groups] (int32), so the
// channels a tap adds to are contiguous, and passes the geometry as one int64 array (Geometry's
// fields in order). conv_int_layer runs a whole window of a conv + LIF layer here, step after
// step, so the sums of a step never leave the cache before the neurons read them.
// Plain C ABI; the Python side passes data pointers (conv_native.py).

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "lif_update.h"

namespace {

struct Geometry {
  int64_t x, y, c, kx, ky, c_group, k_group, sx, sy, px, py, dx, dy, xo, yo;
  int64_t n_in() const { return x * y * c; }
  int64_t c_out() const { return (c / c_group) * k_group; }
  int64_t n_out() const { return xo * yo * c_out(); }
};

// Neurons of one block of conv_int_layer: u, v, pending, bias, sums and spikes of 8192 take
// 300 KiB, well inside a core's L2.
constexpr int64_t kBlockNeurons = 8192;

using Reach = std::vector<std::vector<std::pair<int64_t, int64_t>>>;

// For each input coordinate along one axis, the (tap, output) pairs whose window holds it:
// coordinate + pad = out * stride + tap * dilation, 0 <= out < outputs.
Reach reach(int64_t size, int64_t taps, int64_t stride, int64_t pad, int64_t dilation,
            int64_t outputs) {
  Reach table(size);
  for (int64_t at = 0; at < size; ++at)
    for (int64_t tap = 0; tap < taps; ++tap) {
      const int64_t scaled = at + pad - tap * dilation;
      if (scaled >= 0 && scaled % stride == 0 && scaled / stride < outputs)
        table[at].emplace_back(tap, scaled / stride);
    }
  return table;
}

// One image's input spikes, listed once per step: (y, c) of each spike packed as y << 32 | c,
// grouped by x row, so a scatter reads only spikes and any block of rows finds its own.
struct Events {
  std::vector<int64_t> yc;
  std::vector<int64_t> row_start;  // spikes of row x: [row_start[x], row_start[x + 1])

  // List the spikes of s [X, Y, C]: 64 inputs at a time become a bit mask (the compiler
  // vectorizes that loop), and only the set bits are visited.
  void list(const Geometry& g, const std::vector<int64_t>& packed, const uint8_t* s) {
    const int64_t per_row = g.y * g.c;
    row_start.resize(g.x + 1);
    yc.clear();
    for (int64_t x = 0; x < g.x; ++x) {
      row_start[x] = int64_t(yc.size());
      const uint8_t* row = s + x * per_row;
      for (int64_t base = 0; base < per_row; base += 64) {
        const int64_t width = std::min<int64_t>(64, per_row - base);
        uint64_t mask = 0;
        for (int64_t k = 0; k < width; ++k) mask |= uint64_t(row[base + k] != 0) << k;
        for (; mask; mask &= mask - 1) yc.push_back(packed[base + __builtin_ctzll(mask)]);
      }
    }
    row_start[g.x] = int64_t(yc.size());
  }
};

// (y << 32 | c) of each input of an x row, in the row's (y, c) order.
std::vector<int64_t> packed_yc(const Geometry& g) {
  std::vector<int64_t> packed(g.y * g.c);
  for (int64_t y = 0; y < g.y; ++y)
    for (int64_t c = 0; c < g.c; ++c) packed[y * g.c + c] = y << 32 | c;
  return packed;
}

// The scatter of one image's spikes into the output rows [xo0, xo1) of [Xo, Yo, C_out],
// written to out (row xo0 first), overwritten: int64, or int32 where the caller knows the
// sums fit (half the cache traffic). Only the spikes of input rows whose windows reach those
// output rows are read.
class Scatter {
 public:
  Scatter(const Geometry& g, const int32_t* kernel)
      : g_(g),
        kernel_(kernel),
        along_x_(reach(g.x, g.kx, g.sx, g.px, g.dx, g.xo)),
        along_y_(reach(g.y, g.ky, g.sy, g.py, g.dy, g.yo)),
        first_k_(g.c) {
    for (int64_t c = 0; c < g.c; ++c) first_k_[c] = (c / g.c_group) * g.k_group;
  }

  template <typename Sum>
  void operator()(const Events& events, Sum* out, int64_t xo0, int64_t xo1) const {
    const int64_t c_out = g_.c_out(), per_row = g_.yo * c_out;
    std::fill(out, out + (xo1 - xo0) * per_row, 0);
    const int64_t x_first = std::max<int64_t>(0, xo0 * g_.sx - g_.px);
    const int64_t x_last = std::min(g_.x - 1, (xo1 - 1) * g_.sx - g_.px + (g_.kx - 1) * g_.dx);
    for (int64_t x = x_first; x <= x_last; ++x)
      for (const auto& [i, xo] : along_x_[x]) {
        if (xo < xo0 || xo >= xo1) continue;
        Sum* out_row = out + (xo - xo0) * g_.yo * c_out;
        for (int64_t e = events.row_start[x]; e < events.row_start[x + 1]; ++e) {
          const int64_t c = events.yc[e] & 0xffffffff;
          for (const auto& [j, yo] : along_y_[events.yc[e] >> 32]) {
            const int32_t* w = kernel_ + ((i * g_.ky + j) * g_.c + c) * g_.k_group;
            Sum* target = out_row + yo * c_out + first_k_[c];
#pragma omp simd
            for (int64_t k = 0; k < g_.k_group; ++k) target[k] += w[k];
          }
        }
      }
  }

 private:
  const Geometry g_;
  const int32_t* kernel_;
  const Reach along_x_, along_y_;
  std::vector<int64_t> first_k_;  // the first output channel of input channel c's group
};

// Lava's Conv activation from a sum: utils.signed_clamp(sum << weight_exp, 24), a modulo
// into signed 24 bits (the shift as a product: a left shift of a negative is UB).
inline int64_t activation(int64_t sum, int64_t scale) {
  constexpr int64_t half = int64_t(1) << 23;
  return ((sum * scale + half) & (2 * half - 1)) - half;
}

}  // namespace

extern "C" {

// spikes uint8 [images, X, Y, C_in]; out int64 [images, Xo, Yo, C_out], overwritten.
void conv_int_sums(int64_t images, const uint8_t* spikes, const int64_t* geometry,
                   const int32_t* kernel, int64_t* out, int threads) {
  const Geometry g = *reinterpret_cast<const Geometry*>(geometry);
  const Scatter scatter(g, kernel);
  const std::vector<int64_t> packed = packed_yc(g);
#pragma omp parallel num_threads(threads)
  {
    Events events;
#pragma omp for schedule(static)
    for (int64_t image = 0; image < images; ++image) {
      events.list(g, packed, spikes + image * g.n_in());
      scatter(events, out + image * g.n_out(), 0, g.xo);
    }
  }
}

// A window of T steps of one Conv (or sum pool) + LIF layer, each row (batch item) on its own:
//     sums = conv of this step's input spikes;  lif(pending);  pending = activation(sums)
// u, v, pending: int64 [rows, n_out] in place; spikes_in uint8 [T, rows, n_in];
// spikes_out uint8 [T, rows, n_out]. The caller guarantees every sum fits int32 (a validated
// layer's do: |sum| < 2**31 >> weight_exp).
// The input of the whole window is known, so the layer runs a block of output rows through
// all T steps before the next block: a block's neurons stay in L2 across the window instead
// of the whole layer streaming through it every step.
void conv_int_layer(int64_t steps, int64_t rows, const uint8_t* spikes_in,
                    const int64_t* geometry, const int32_t* kernel, int64_t weight_exp,
                    int64_t* u, int64_t* v, int64_t* pending, const int64_t* bias, int64_t du,
                    int64_t dv, int64_t vth, int64_t subtract, uint8_t* spikes_out,
                    int threads) {
  const Geometry g = *reinterpret_cast<const Geometry*>(geometry);
  const Scatter scatter(g, kernel);
  const lif::Neuron p = lif::neuron(du, dv, vth, subtract);
  const int64_t n_in = g.n_in(), n_out = g.n_out(), scale = int64_t(1) << weight_exp;
  const int64_t per_row = g.yo * g.c_out();
  const int64_t block_rows = std::max<int64_t>(1, kBlockNeurons / std::max<int64_t>(1, per_row));
  const int64_t blocks = (g.xo + block_rows - 1) / block_rows;
  const std::vector<int64_t> packed = packed_yc(g);
  std::vector<Events> events(steps * rows);  // every step's, listed once
#pragma omp parallel num_threads(threads)
  {
#pragma omp for schedule(static)
    for (int64_t at = 0; at < steps * rows; ++at) events[at].list(g, packed, spikes_in + at * n_in);
    std::vector<int32_t> sums(block_rows * per_row);
#pragma omp for collapse(2) schedule(static)
    for (int64_t row = 0; row < rows; ++row)
      for (int64_t block = 0; block < blocks; ++block) {
        const int64_t xo0 = block * block_rows, xo1 = std::min(g.xo, xo0 + block_rows);
        const int64_t first = row * n_out + xo0 * per_row, count = (xo1 - xo0) * per_row;
        int64_t* u_b = u + first;
        int64_t* v_b = v + first;
        int64_t* pending_b = pending + first;
        const int64_t* bias_b = bias + xo0 * per_row;
        for (int64_t t = 0; t < steps; ++t) {
          const int64_t at = t * rows + row;
          scatter(events[at], sums.data(), xo0, xo1);
          uint8_t* out = spikes_out + at * n_out + xo0 * per_row;
#pragma omp simd
          for (int64_t j = 0; j < count; ++j) {
            out[j] = lif::fire(u_b[j], v_b[j], pending_b[j], bias_b[j], p);
            pending_b[j] = activation(sums[j], scale);
          }
        }
      }
  }
}

}  // extern "C"
