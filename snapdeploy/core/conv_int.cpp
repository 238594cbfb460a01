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
// channels a tap adds to are contiguous. Plain C ABI; the Python side passes data pointers.

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

namespace {

// For each input coordinate along one axis, the (tap, output) pairs whose window holds it:
// coordinate + pad = out * stride + tap * dilation, 0 <= out < outputs.
std::vector<std::vector<std::pair<int64_t, int64_t>>> reach(int64_t size, int64_t taps,
                                                             int64_t stride, int64_t pad,
                                                             int64_t dilation, int64_t outputs) {
  std::vector<std::vector<std::pair<int64_t, int64_t>>> table(size);
  for (int64_t at = 0; at < size; ++at)
    for (int64_t tap = 0; tap < taps; ++tap) {
      const int64_t scaled = at + pad - tap * dilation;
      if (scaled >= 0 && scaled % stride == 0 && scaled / stride < outputs)
        table[at].emplace_back(tap, scaled / stride);
    }
  return table;
}

}  // namespace

extern "C" {

// spikes uint8 [images, X, Y, C_in]; out int64 [images, Xo, Yo, C_out], overwritten.
void conv_int_sums(int64_t images, const uint8_t* spikes, int64_t X, int64_t Y, int64_t C,
                   const int32_t* kernel, int64_t kx, int64_t ky, int64_t c_group,
                   int64_t k_group, int64_t sx, int64_t sy, int64_t px, int64_t py, int64_t dx,
                   int64_t dy, int64_t Xo, int64_t Yo, int64_t* out, int threads) {
  const int64_t c_out = (C / c_group) * k_group;
  const auto along_x = reach(X, kx, sx, px, dx, Xo);
  const auto along_y = reach(Y, ky, sy, py, dy, Yo);
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t image = 0; image < images; ++image) {
    int64_t* o = out + image * Xo * Yo * c_out;
    std::fill(o, o + Xo * Yo * c_out, 0);
    const uint8_t* s = spikes + image * X * Y * C;
    for (int64_t x = 0; x < X; ++x)
      for (int64_t y = 0; y < Y; ++y)
        for (int64_t c = 0; c < C; ++c) {
          if (!s[(x * Y + y) * C + c]) continue;
          const int64_t first_k = (c / c_group) * k_group;
          for (const auto& [i, xo] : along_x[x])
            for (const auto& [j, yo] : along_y[y]) {
              const int32_t* w = kernel + ((i * ky + j) * C + c) * k_group;
              int64_t* target = o + (xo * Yo + yo) * c_out + first_k;
#pragma omp simd
              for (int64_t k = 0; k < k_group; ++k) target[k] += w[k];
            }
        }
  }
}

}  // extern "C"
