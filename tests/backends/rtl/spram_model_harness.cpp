// Drives the SB_SPRAM256KA behavioural model (lif_spram_model.v) alone, one clock cycle per
// line of stdin: "chipselect wren maskwren address datain" (decimal). For each it prints
// DATAOUT before the rising edge (inputs applied) and after it, in decimal, so a test can
// check the read latency, the write mask and chip select against the primitive's behaviour.
#include <cstdio>
#include <memory>

#include "VSB_SPRAM256KA.h"
#include "verilated.h"

int main(int argc, char** argv) {
  auto context = std::make_unique<VerilatedContext>();
  context->commandArgs(argc, argv);
  VSB_SPRAM256KA ram(context.get());
  ram.STANDBY = 0;
  ram.SLEEP = 0;
  ram.POWEROFF = 1;
  ram.CLOCK = 0;
  ram.eval();
  unsigned cs, wren, mask, address, data;
  while (std::scanf("%u %u %u %u %u", &cs, &wren, &mask, &address, &data) == 5) {
    ram.CHIPSELECT = cs;
    ram.WREN = wren;
    ram.MASKWREN = mask;
    ram.ADDRESS = address;
    ram.DATAIN = data;
    ram.eval();
    const unsigned before = ram.DATAOUT;
    ram.CLOCK = 1;
    ram.eval();
    std::printf("%u %u\n", before, static_cast<unsigned>(ram.DATAOUT));
    ram.CLOCK = 0;
    ram.eval();
  }
  ram.final();
  return 0;
}
