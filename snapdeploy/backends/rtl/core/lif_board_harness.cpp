// Verilator harness of the board top (lif_board.v): the USB-serial bridge of a board with no
// board. Bytes from stdin go onto the FPGA's receive pin as 8N1 frames, frames from its
// transmit pin come out on stdout, so the host's link driver talks to this process through a
// pipe exactly as it talks to /dev/ttyUSB0. The board's clock runs freely while the core runs
// or a command is served (led[0], led[1]); otherwise the harness waits for the host.
// It exits when stdin closes.
#include <poll.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <deque>
#include <memory>
#include <vector>

#include "Vlif_board.h"
#include "verilated.h"

namespace {

// Clock cycles per bit: the board top's CLOCKS_PER_BIT, which the build sets (-G).
constexpr int CLOCKS_PER_BIT = SNAP_CLOCKS_PER_BIT;
// Cycles between looks at stdin while the board is busy.
constexpr uint64_t POLL_EVERY = 4096;
// Cycles the board runs before the host's first byte: past its power-on reset, as a board is
// long before anyone opens its serial port.
constexpr int POWER_ON_CYCLES = 64;

struct Bridge {
  std::unique_ptr<Vlif_board> board;
  std::deque<uint8_t> to_board;
  std::vector<uint8_t> to_host;
  bool host_open = true;
  // the frame being sent to the board: bits left (start, 8 data, stop) and cycles in this bit
  int send_bits = 0, send_count = 0;
  uint16_t send_frame = 0;
  // the frame being received from the board: -1 idle, else cycles since its start edge
  int recv_cycles = -1;
  uint8_t recv_byte = 0;
  int quiet = 0;  // cycles with neither side's line busy

  explicit Bridge(VerilatedContext* context) : board(new Vlif_board(context)) {
    board->ftdi_txd = 1;
    board->clk = 0;
    board->eval();
  }

  void tick() {
    Vlif_board& b = *board;
    drive();
    b.clk = 1;
    b.eval();
    b.clk = 0;
    b.eval();
    sample(b.ftdi_rxd);
    quiet = send_bits || recv_cycles >= 0 ? 0 : quiet + 1;
  }

  void drive() {
    if (send_bits == 0 && !to_board.empty()) {
      send_frame = static_cast<uint16_t>((1u << 9) | (to_board.front() << 1));  // start bit 0
      to_board.pop_front();
      send_bits = 10;
      send_count = 0;
    }
    if (send_bits == 0) {
      board->ftdi_txd = 1;
      return;
    }
    board->ftdi_txd = send_frame & 1;
    if (++send_count == CLOCKS_PER_BIT) {
      send_count = 0;
      send_frame >>= 1;
      --send_bits;
    }
  }

  void sample(int line) {
    if (recv_cycles < 0) {
      if (!line) recv_cycles = 0;
      return;
    }
    ++recv_cycles;
    const int middle = recv_cycles - CLOCKS_PER_BIT / 2;
    if (middle <= 0 || middle % CLOCKS_PER_BIT) return;
    const int bit = middle / CLOCKS_PER_BIT;  // 1-8: data, 9: stop
    if (bit <= 8) {
      recv_byte = static_cast<uint8_t>((recv_byte >> 1) | (line ? 0x80 : 0));
    } else {
      to_host.push_back(recv_byte);
      recv_cycles = -1;
    }
  }

  // The board has nothing to do until the host sends more: no byte in flight either way for
  // two bit times (the board has taken the last one in), no command served, no run going.
  bool idle() const {
    return to_board.empty() && quiet > 2 * CLOCKS_PER_BIT && !(board->led & 0x3);
  }

  void flush() {
    size_t done = 0;
    while (done < to_host.size()) {
      const ssize_t n = write(STDOUT_FILENO, to_host.data() + done, to_host.size() - done);
      if (n <= 0) {
        host_open = false;
        break;
      }
      done += static_cast<size_t>(n);
    }
    to_host.clear();
  }

  // Take what the host has sent; wait for it when `block`.
  void receive(bool block) {
    pollfd fd{STDIN_FILENO, POLLIN, 0};
    if (poll(&fd, 1, block ? -1 : 0) <= 0) return;
    uint8_t buffer[4096];
    const ssize_t n = read(STDIN_FILENO, buffer, sizeof buffer);
    if (n <= 0) {
      host_open = false;
      return;
    }
    to_board.insert(to_board.end(), buffer, buffer + n);
  }
};

}  // namespace

int main(int argc, char** argv) {
  auto context = std::make_unique<VerilatedContext>();
  context->commandArgs(argc, argv);
  Bridge bridge(context.get());
  for (int i = 0; i < POWER_ON_CYCLES; ++i) bridge.tick();
  bridge.to_host.clear();  // whatever its transmit pin did before reset is not a byte
  bridge.recv_cycles = -1;
  uint64_t cycle = 0;
  while (bridge.host_open) {
    bridge.tick();
    if (bridge.idle()) {
      bridge.flush();
      bridge.receive(true);
    } else if (++cycle % POLL_EVERY == 0) {
      bridge.flush();
      bridge.receive(false);
    }
  }
  bridge.board->final();
  return 0;
}
