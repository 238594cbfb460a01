// Verilator harness of the RTL LIF core: the host side of one board, cycle by cycle.
//
// It plays the processor's AXI-Lite master (writing the register file the PYNQ driver
// filled, setting ap_start and polling ap_done, as the driver does on a board) and the
// memory behind the core's master port, one response MEMORY_LATENCY cycles after each
// request. As in the HLS C-simulation, a buffer's device address is its address in this
// process. It counts the clock cycles from ap_start to ap_done.
#include <cstdint>
#include <cstring>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include "Vlif_core.h"
#include "Vlif_core__Dpi.h"
#include "Vlif_core___024root.h"
#include "verilated.h"

namespace {

// Verilator 5.006 finds a rising edge by comparing the clock with its value at the previous
// eval, so a cycle takes two evals. The falling one changes nothing in this core (every
// block is posedge; the inputs' logic runs again at the next rising eval), yet costs about
// a fifth of a cycle's time. Where the model has 5.006's record of that previous value, the
// falling edge is written there instead of evaluated; any other Verilator evaluates it.
template <class Root, class = void>
struct RecordsPreviousClock : std::false_type {};
template <class Root>
struct RecordsPreviousClock<
    Root, std::void_t<decltype(std::declval<Root&>().__Vtrigrprev__TOP__clk)>>
    : std::true_type {};

void falling_edge(Vlif_core& core) {
  core.clk = 0;
  if constexpr (RecordsPreviousClock<Vlif_core___024root>::value) {
    core.rootp->__Vtrigrprev__TOP__clk = 0;
  } else {
    core.eval();
  }
}

// Cycles from a memory request's acceptance to its response (an on-chip memory's; a
// board's DDR behind an AXI interconnect takes tens).
constexpr int MEMORY_LATENCY = 1;
// The cycle budget of one pass, so that a hung core is an error rather than a hang.
constexpr uint64_t MAX_CYCLES = uint64_t(1) << 40;

// The layer table of the model being constructed, read by the core's initial block (DPI).
const uint32_t* g_layer_table = nullptr;
int g_layer_words = 0;

struct Sim {
  VerilatedContext context;
  std::unique_ptr<Vlif_core> core;
  uint64_t cycles = 0;
  int pending = -1;  // cycles until the outstanding memory response, -1: none
  uint64_t response = 0;

  Sim() : core(new Vlif_core(&context)) {}

  // One clock cycle: the memory answers, then a rising edge.
  void tick() {
    Vlif_core& c = *core;
    c.m_ready = 1;
    c.m_rvalid = 0;
    if (pending == 0) {
      c.m_rvalid = 1;
      c.m_rdata = response;
      pending = -1;
    }
    const bool accepted = c.m_valid && pending < 0;
    const bool write = c.m_write, wide = c.m_wide;
    const uint64_t address = c.m_addr, data = c.m_wdata;
    c.clk = 1;
    c.eval();
    falling_edge(c);
    ++cycles;
    if (pending > 0) --pending;
    if (accepted) {
      void* where = reinterpret_cast<void*>(static_cast<uintptr_t>(address));
      const size_t bytes = wide ? 8 : 4;
      response = 0;
      if (write) {
        std::memcpy(where, &data, bytes);
      } else {
        std::memcpy(&response, where, bytes);
      }
      pending = MEMORY_LATENCY - 1;
    }
  }

  void write_register(uint32_t offset, uint32_t value) {
    Vlif_core& c = *core;
    c.s_axi_awaddr = offset;
    c.s_axi_wdata = value;
    c.s_axi_wstrb = 0xf;
    c.s_axi_awvalid = 1;
    c.s_axi_wvalid = 1;
    c.s_axi_bready = 1;
    do tick(); while (!c.s_axi_awready);
    tick();
    c.s_axi_awvalid = 0;
    c.s_axi_wvalid = 0;
  }

  uint32_t read_register(uint32_t offset) {
    Vlif_core& c = *core;
    c.s_axi_araddr = offset;
    c.s_axi_arvalid = 1;
    c.s_axi_rready = 1;
    do tick(); while (!c.s_axi_rvalid);
    const uint32_t value = c.s_axi_rdata;
    tick();
    c.s_axi_arvalid = 0;
    return value;
  }
};

}  // namespace

extern "C" {

// The core's initial block reads its layer table through this (SNAP_SIM builds only).
int snap_layer_word(int index) {
  return index < g_layer_words ? static_cast<int>(g_layer_table[index]) : 0;
}

// A fresh core holding `words` words of layer table, out of reset.
void* rtl_open(const uint32_t* layer_table, int words) {
  g_layer_table = layer_table;
  g_layer_words = words;
  Sim* sim = new Sim();
  Vlif_core& c = *sim->core;
  c.rst_n = 0;
  c.clk = 0;
  c.eval();  // runs the initial blocks, which copy the table
  g_layer_table = nullptr;
  g_layer_words = 0;
  for (int i = 0; i < 4; ++i) sim->tick();
  c.rst_n = 1;
  sim->tick();
  return sim;
}

// One ap_start..ap_done pass over the first `words` words of the register file `regs`
// (uint32 words, byte offset / 4; CTRL, word 0, is written last); returns the cycles from the ap_start write to the read that saw ap_done, or 0 if the core
// never finished.
uint64_t rtl_ap_start(void* handle, const uint32_t* regs, int words, uint32_t ctrl_offset) {
  Sim& sim = *static_cast<Sim*>(handle);
  for (int word = 1; word < words; ++word) {
    sim.write_register(word * 4, regs[word]);
  }
  sim.write_register(ctrl_offset, 1);
  const uint64_t start = sim.cycles;
  while (!(sim.read_register(ctrl_offset) & 0x2)) {
    if (sim.cycles - start > MAX_CYCLES) return 0;
  }
  return sim.cycles - start;
}

void rtl_close(void* handle) { delete static_cast<Sim*>(handle); }
}
