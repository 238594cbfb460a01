// C-simulation entry point, built by g++ only (Vitis HLS never sees this file).
//
// On the FPGA, Vitis HLS wraps lif_core in an AXI-Lite slave: the host writes the arguments
// into registers and sets ap_start. The emulated PYNQ device does the same writes into a
// register file and calls csim_ap_start with it; this file plays that slave's part, reading
// the arguments from the registers at the offsets of lif_params.h. In C-simulation a
// buffer's device address is its address in this process, as Vitis HLS C-sim passes them.
#include "lif_core.h"

static uint64_t reg64(const uint32_t* regs, int offset) {
  return uint64_t(regs[offset / 4]) | (uint64_t(regs[offset / 4 + 1]) << 32);
}

template <typename T>
static T* reg_pointer(const uint32_t* regs, int offset) {
  return reinterpret_cast<T*>(static_cast<uintptr_t>(reg64(regs, offset)));
}

extern "C" {

// Run lif_core with the arguments held in `regs` (REG_RANGE bytes of AXI-Lite registers).
void csim_ap_start(const uint32_t* regs) {
  lif_core(reg_pointer<const uint32_t>(regs, REG_SPIKES_IN),
           reg_pointer<uint32_t>(regs, REG_SPIKES_OUT), reg_pointer<state_t>(regs, REG_STATE),
           reg_pointer<const int32_t>(regs, REG_PARAMS), regs[REG_STEPS / 4],
           regs[REG_BATCH / 4], regs[REG_LOAD / 4]);
}

// The sizes this library was built for, so a host can refuse a library of another partition:
// N_IN, N_OUT, N_NEURONS, IMAGE_WORDS, REG_RANGE.
void csim_shape(int32_t* out) {
  out[0] = N_IN;
  out[1] = N_OUT;
  out[2] = N_NEURONS;
  out[3] = IMAGE_WORDS;
  out[4] = REG_RANGE;
}
}
