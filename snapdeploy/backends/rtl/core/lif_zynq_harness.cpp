// Verilator harness of the Zynq top (lif_zynq_top.v): the core behind its AXI4 master bridge,
// cycle by cycle, with the PS around it.
//
// It plays the processor's AXI-Lite master on s_axi_control (the register file the PYNQ
// driver filled, ap_start, polling ap_done) and an AXI4 slave memory on m_axi_gmem, as the
// PS's S_AXI_HP0 and DDR would be: a buffer's device address is its address in this process.
// The slave model is seeded and, when asked, stalls at random: ARREADY, AWREADY and WREADY
// drop, RVALID and BVALID come late, in any mix; it can hold each read burst and write
// response back by a fixed latency, and answer one chosen read beat or write with SLVERR. It checks the master's side of the protocol as it goes (payloads held
// while VALID waits for READY, INCR bursts within a 4 KB page, one W beat per single-beat
// write with strobes in the size's lanes) and reports the first violation instead of
// guessing. It counts the clock cycles from ap_start to ap_done.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <memory>
#include <random>
#include <string>

#include "Vlif_zynq_top.h"
#include "Vlif_zynq_top__Dpi.h"
#include "verilated.h"

namespace {

constexpr uint64_t MAX_CYCLES = uint64_t(1) << 40;
constexpr uint32_t SLVERR = 2;

const uint32_t* g_layer_table = nullptr;
int g_layer_words = 0;

struct Burst {
  uint64_t address;  // of its first beat, aligned to its size
  int beats;
  int size;  // bytes per beat
  uint64_t ready_at;  // the cycle its first read beat (or its write response) may come
  int done = 0;
};

struct Response {
  uint32_t resp;
  uint64_t ready_at;
};

struct Zynq {
  VerilatedContext context;
  std::unique_ptr<Vlif_zynq_top> top;
  uint64_t cycles = 0;
  std::mt19937_64 rng{0};
  int stall_percent = 0;
  uint64_t latency = 0;  // cycles from an AR (a write's last W) to its first beat (its B)
  // the slave's bursts in flight
  std::deque<Burst> reads;
  std::deque<Burst> writes;    // addresses taken, data not yet
  std::deque<Response> responses;  // writes whose data came, not yet answered
  // which read beat / write (counted from the request to fail) answers SLVERR; -1: none
  int64_t fail_read_beat = -1, fail_write = -1;
  int64_t read_beats = 0, write_count = 0;
  std::string violation;
  // the master's AR and AW payloads seen while VALID waited, to check they are held
  bool r_taken = false, b_taken = false;  // this cycle's R and B handshakes
  bool ar_waiting = false, aw_waiting = false, w_waiting = false;
  uint64_t ar_seen = 0, aw_seen = 0, w_seen = 0;

  Zynq() : top(new Vlif_zynq_top(&context)) {}

  bool stall() { return stall_percent > 0 && int(rng() % 100) < stall_percent; }

  void fail(const std::string& what) {
    if (violation.empty()) violation = what + " at cycle " + std::to_string(cycles);
  }

  // The slave's outputs for this cycle: READYs drawn, the next beat or response offered.
  // A VALID once raised stays until its handshake (the slave keeps the protocol too).
  void drive() {
    Vlif_zynq_top& t = *top;
    t.m_axi_gmem_ARREADY = !stall();
    t.m_axi_gmem_AWREADY = !stall();
    t.m_axi_gmem_WREADY = !writes.empty() && !stall();
    if (!t.m_axi_gmem_RVALID && !reads.empty() && cycles >= reads.front().ready_at &&
        !stall()) {
      Burst& b = reads.front();
      const uint64_t beat = (b.address + uint64_t(b.done) * b.size) & ~uint64_t(7);
      uint64_t data = 0;
      std::memcpy(&data, reinterpret_cast<void*>(static_cast<uintptr_t>(beat)), 8);
      t.m_axi_gmem_RVALID = 1;
      t.m_axi_gmem_RDATA = data;
      t.m_axi_gmem_RLAST = b.done + 1 == b.beats;
      t.m_axi_gmem_RRESP = read_beats++ == fail_read_beat ? SLVERR : 0;
      t.m_axi_gmem_RID = 0;
    }
    if (!t.m_axi_gmem_BVALID && !responses.empty() && cycles >= responses.front().ready_at &&
        !stall()) {
      t.m_axi_gmem_BVALID = 1;
      t.m_axi_gmem_BRESP = responses.front().resp;
      t.m_axi_gmem_BID = 0;
    }
  }

  void check_held(bool valid, bool ready, bool& waiting, uint64_t& seen, uint64_t now,
                  const char* channel) {
    if (waiting && (!valid || now != seen)) {
      fail(std::string(channel) + "VALID or its payload changed before " + channel + "READY");
    }
    waiting = valid && !ready;
    seen = now;
  }

  // The handshakes of this cycle, taken before the rising edge (the slave's VALIDs drop
  // after it).
  void take() {
    Vlif_zynq_top& t = *top;
    const uint64_t ar = t.m_axi_gmem_ARADDR ^ (uint64_t(t.m_axi_gmem_ARLEN) << 56);
    check_held(t.m_axi_gmem_ARVALID, t.m_axi_gmem_ARREADY, ar_waiting, ar_seen, ar, "AR");
    const uint64_t aw = t.m_axi_gmem_AWADDR ^ (uint64_t(t.m_axi_gmem_AWSIZE) << 56);
    check_held(t.m_axi_gmem_AWVALID, t.m_axi_gmem_AWREADY, aw_waiting, aw_seen, aw, "AW");
    const uint64_t w = t.m_axi_gmem_WDATA ^ (uint64_t(t.m_axi_gmem_WSTRB) << 32);
    check_held(t.m_axi_gmem_WVALID, t.m_axi_gmem_WREADY, w_waiting, w_seen, w, "W");
    if (t.m_axi_gmem_ARVALID && t.m_axi_gmem_ARREADY) {
      Burst b{t.m_axi_gmem_ARADDR, int(t.m_axi_gmem_ARLEN) + 1, 1 << t.m_axi_gmem_ARSIZE,
              cycles + latency};
      check_burst(b, t.m_axi_gmem_ARBURST, "read");
      reads.push_back(b);
    }
    if (t.m_axi_gmem_AWVALID && t.m_axi_gmem_AWREADY) {
      Burst b{t.m_axi_gmem_AWADDR, int(t.m_axi_gmem_AWLEN) + 1, 1 << t.m_axi_gmem_AWSIZE, 0};
      check_burst(b, t.m_axi_gmem_AWBURST, "write");
      writes.push_back(b);
    }
    if (t.m_axi_gmem_WVALID && t.m_axi_gmem_WREADY) {
      if (writes.empty()) {
        fail("W beat before its AW");
      } else {
        write_beat(writes.front(), t.m_axi_gmem_WDATA, t.m_axi_gmem_WSTRB,
                   t.m_axi_gmem_WLAST);
      }
    }
    r_taken = t.m_axi_gmem_RVALID && t.m_axi_gmem_RREADY;
    if (r_taken && ++reads.front().done == reads.front().beats) reads.pop_front();
    b_taken = t.m_axi_gmem_BVALID && t.m_axi_gmem_BREADY;
    if (b_taken) responses.pop_front();
  }

  void check_burst(const Burst& b, uint32_t kind, const char* what) {
    if (kind != 1) fail(std::string(what) + " burst is not INCR");
    if (b.size > 8) fail(std::string(what) + " beat wider than the 64-bit bus");
    if (b.address % b.size) fail(std::string(what) + " burst address unaligned to its size");
    if ((b.address & 4095) + uint64_t(b.beats) * b.size > 4096) {
      fail(std::string(what) + " burst crosses a 4 KB boundary");
    }
  }

  void write_beat(Burst& b, uint64_t data, uint32_t strobes, bool last) {
    const uint64_t address = b.address + uint64_t(b.done) * b.size;
    const uint64_t base = address & ~uint64_t(7);
    const uint32_t lanes = ((1u << b.size) - 1) << (address & 7);
    if (strobes & ~lanes) fail("WSTRB outside the beat's lanes");
    auto* bytes = reinterpret_cast<uint8_t*>(static_cast<uintptr_t>(base));
    for (int k = 0; k < 8; ++k) {
      if (strobes >> k & 1) bytes[k] = uint8_t(data >> (8 * k));
    }
    if (last != (++b.done == b.beats)) fail("WLAST not on the burst's last beat");
    if (b.done == b.beats) {
      writes.pop_front();
      responses.push_back({write_count++ == fail_write ? SLVERR : 0, cycles + latency});
    }
  }

  void tick() {
    Vlif_zynq_top& t = *top;
    drive();
    t.eval();
    take();
    t.ap_clk = 1;
    t.eval();
    t.ap_clk = 0;
    if (r_taken) t.m_axi_gmem_RVALID = 0;
    if (b_taken) t.m_axi_gmem_BVALID = 0;
    t.eval();
    ++cycles;
  }

  void write_register(uint32_t offset, uint32_t value) {
    Vlif_zynq_top& t = *top;
    t.s_axi_control_AWADDR = offset;
    t.s_axi_control_WDATA = value;
    t.s_axi_control_WSTRB = 0xf;
    t.s_axi_control_AWVALID = 1;
    t.s_axi_control_WVALID = 1;
    t.s_axi_control_BREADY = 1;
    do tick(); while (!t.s_axi_control_AWREADY);
    tick();
    t.s_axi_control_AWVALID = 0;
    t.s_axi_control_WVALID = 0;
  }

  uint32_t read_register(uint32_t offset) {
    Vlif_zynq_top& t = *top;
    t.s_axi_control_ARADDR = offset;
    t.s_axi_control_ARVALID = 1;
    t.s_axi_control_RREADY = 1;
    do tick(); while (!t.s_axi_control_RVALID);
    const uint32_t value = t.s_axi_control_RDATA;
    tick();
    t.s_axi_control_ARVALID = 0;
    return value;
  }
};

}  // namespace

extern "C" {

int snap_layer_word(int index) {
  return index < g_layer_words ? static_cast<int>(g_layer_table[index]) : 0;
}

void* rtl_open(const uint32_t* layer_table, int words) {
  g_layer_table = layer_table;
  g_layer_words = words;
  Zynq* sim = new Zynq();
  Vlif_zynq_top& t = *sim->top;
  t.ap_rst_n = 0;
  t.ap_clk = 0;
  t.eval();
  g_layer_table = nullptr;
  g_layer_words = 0;
  for (int i = 0; i < 4; ++i) sim->tick();
  t.ap_rst_n = 1;
  sim->tick();
  return sim;
}

// As lif_harness.cpp's: one ap_start..ap_done pass; the cycles it took, 0 if it never ended
// (or the slave saw a protocol violation: rtl_violation says which).
uint64_t rtl_ap_start(void* handle, const uint32_t* regs, int words, uint32_t ctrl_offset) {
  Zynq& sim = *static_cast<Zynq*>(handle);
  for (int word = 1; word < words; ++word) sim.write_register(word * 4, regs[word]);
  sim.write_register(ctrl_offset, 1);
  const uint64_t start = sim.cycles;
  while (!(sim.read_register(ctrl_offset) & 0x2)) {
    if (sim.cycles - start > MAX_CYCLES || !sim.violation.empty()) return 0;
  }
  return sim.violation.empty() ? sim.cycles - start : 0;
}

uint32_t rtl_read_register(void* handle, uint32_t offset) {
  return static_cast<Zynq*>(handle)->read_register(offset);
}

// The slave's stalls from now on: each READY low and each VALID held back with probability
// percent / 100, drawn from a generator seeded with `seed`.
void rtl_axi_stalls(void* handle, uint64_t seed, int percent) {
  Zynq& sim = *static_cast<Zynq*>(handle);
  sim.rng.seed(seed);
  sim.stall_percent = percent;
}

// From now on a read burst's first beat, and a write's response, come no sooner than
// `cycles` cycles after its address (its last data beat): a DDR behind an interconnect.
void rtl_axi_latency(void* handle, uint64_t cycles) {
  static_cast<Zynq*>(handle)->latency = cycles;
}

// Answer SLVERR to the nth read beat (write = 0) or the nth write (write = 1) from now on.
void rtl_axi_fail(void* handle, int write, int64_t nth) {
  Zynq& sim = *static_cast<Zynq*>(handle);
  if (write) {
    sim.fail_write = sim.write_count + nth;
  } else {
    sim.fail_read_beat = sim.read_beats + nth;
  }
}

// The first protocol violation the slave saw, or an empty string.
const char* rtl_violation(void* handle) { return static_cast<Zynq*>(handle)->violation.c_str(); }

void rtl_close(void* handle) { delete static_cast<Zynq*>(handle); }
}
