// Synaptic input of every core for the next step, event-driven over weight blocks.
//
// A block is a few rows of one receiving core's weights and the contiguous range of
// presynaptic neurons they read (a banded matrix's band), stored column by column:
// weights_t[block][column][row], already multiplied by how many copies of each neuron's
// packet the core receives (emulator.py). For every batch item and block, each presynaptic
// neuron of the range that fired adds its column into the block's sums, as a core adds the
// synaptic row of each packet it receives. Sums stay in int32 registers per block: |sum| is
// at most the largest row's absolute sum, checked against int32 by the caller.
// Plain C ABI; the emulator passes data pointers (synapses.py).

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

namespace {

constexpr int64_t kLanes = 8;
typedef int32_t Lanes __attribute__((vector_size(kLanes * sizeof(int32_t))));

// One block for every batch item: the block's weights are read from memory once and stay in
// cache while the items pass (items outermost re-read all blocks' weights, tens of MB, per item).
// The block height is fixed at compile time so the sums live in vector registers (GCC's vector
// extension; eight int32 lanes, as AVX2 has).
template <int64_t kRows>
void block_input(int64_t batch, int64_t n_total, const uint8_t* fired, const int32_t* columns,
                 int64_t first_in, int64_t n_cols, int64_t first_out, int64_t n_rows,
                 int64_t* summed, int64_t n_sums, int64_t* active) {
  constexpr int64_t kVectors = kRows / kLanes;
  for (int64_t item = 0; item < batch; ++item) {
    // the columns whose neuron fired, listed without a branch: half of all neurons fire in
    // a busy network, and a mispredicted branch per column costs more than its adds
    const uint8_t* pre = fired + item * n_total + first_in;
    int64_t n_active = 0;
    for (int64_t c = 0; c < n_cols; ++c) {
      active[n_active] = c;
      n_active += pre[c] != 0;
    }
    Lanes sums[kVectors] = {};
    for (int64_t k = 0; k < n_active; ++k) {
      const int32_t* column = columns + active[k] * kRows;
      for (int64_t i = 0; i < kVectors; ++i) {
        Lanes part;
        std::memcpy(&part, column + i * kLanes, sizeof(Lanes));
        sums[i] += part;
      }
    }
    int64_t* out = summed + item * n_sums + first_out;
    for (int64_t r = 0; r < n_rows; ++r) out[r] = sums[r / kLanes][r % kLanes];
  }
}

}  // namespace

extern "C" {

// fired: uint8 [batch, n_total]; summed: int64 [batch, n_sums] (a neuron has one sum per delay
// its layer uses), written where a block outputs, left untouched elsewhere (the caller zeroes
// it). Blocks are `rows` high, which must be kBlockRows (the emulator pads them to it).
constexpr int64_t kBlockRows = 32;

int spinn_block_rows() { return kBlockRows; }

void spinn_block_input(int64_t batch, int64_t n_total, const uint8_t* fired, int64_t n_blocks,
                       int64_t width, const int32_t* weights_t, const int64_t* first_in,
                       const int64_t* n_cols, const int64_t* first_out, const int64_t* n_rows,
                       int64_t* summed, int64_t n_sums, int threads) {
#pragma omp parallel num_threads(threads)
  {
    std::vector<int64_t> active(width);
#pragma omp for schedule(static)
    for (int64_t b = 0; b < n_blocks; ++b)
      block_input<kBlockRows>(batch, n_total, fired, weights_t + b * width * kBlockRows,
                              first_in[b], n_cols[b], first_out[b], n_rows[b], summed, n_sums,
                              active.data());
  }
}

// Synaptic rows as a SpiNNaker core holds them, for layers with delays: each presynaptic
// (global) neuron's row lists (sum, weight) words, a sum per (delay, neuron), weights already
// multiplied by the copies of its packet the core receives; row n is
// [row_start[n], row_start[n + 1]). Each item's fired neurons add their rows into its sums,
// items in parallel (each writes only its own sums).
void spinn_row_input(int64_t batch, int64_t n_total, const uint8_t* fired,
                     const int64_t* row_start, const int64_t* target, const int32_t* weight,
                     int64_t* summed, int64_t n_sums, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t item = 0; item < batch; ++item) {
    const uint8_t* pre = fired + item * n_total;
    int64_t* out = summed + item * n_sums;
    for (int64_t n = 0; n < n_total; ++n) {
      if (!pre[n]) continue;
      for (int64_t k = row_start[n]; k < row_start[n + 1]; ++k) out[target[k]] += weight[k];
    }
  }
}

}  // extern "C"
