// A behavioural model of the iCE40 UltraPlus SB_SPRAM256KA, for Verilator only (synthesis
// maps the primitive from yosys' iCE40 cell library; SYNTHESIS hides this one there). Written
// from the primitive's documented behaviour (Lattice's iCE40 SPRAM usage guide, FPGA-TN-02022;
// yosys techlibs/ice40/cells_sim.v): 16K words of 16 bits on a 14-bit address; on a rising
// CLOCK with CHIPSELECT high, WREN high writes the nibbles MASKWREN selects (bit k: bits
// 4k+3..4k) and WREN low reads the word into DATAOUT, which holds it until the next read;
// after a write DATAOUT is undefined, here a poison value so a design that used it fails;
// CHIPSELECT low (or STANDBY high) leaves memory and DATAOUT as they are; SLEEP high or
// POWEROFF low (off) clears DATAOUT. Its power-on contents are not the bitstream's: the model starts from a
// pseudo-random pattern, so a simulation that reads a word nobody wrote does not see zeros.
`ifndef SYNTHESIS
module SB_SPRAM256KA (
    input wire [13:0] ADDRESS,
    input wire [15:0] DATAIN,
    input wire [3:0] MASKWREN,
    input wire WREN,
    input wire CHIPSELECT,
    input wire CLOCK,
    input wire STANDBY,
    input wire SLEEP,
    input wire POWEROFF,
    output reg [15:0] DATAOUT
);
  localparam [15:0] UNDEFINED = 16'hdead;
  reg [15:0] memory[0:16383];
  wire [15:0] nibbles = {{4{MASKWREN[3]}}, {4{MASKWREN[2]}}, {4{MASKWREN[1]}}, {4{MASKWREN[0]}}};
  integer i;
  reg [15:0] pattern;
  initial begin
    pattern = 16'hace1;
    for (i = 0; i < 16384; i = i + 1) begin  // a 16-bit Galois LFSR
      pattern = {1'b0, pattern[15:1]} ^ (pattern[0] ? 16'hb400 : 16'h0000);
      memory[i] = pattern;
    end
    DATAOUT = UNDEFINED;
  end
  always @(posedge CLOCK)
    if (SLEEP || !POWEROFF) DATAOUT <= 16'd0;
    else if (CHIPSELECT && !STANDBY) begin
      if (WREN) begin
        memory[ADDRESS] <= (memory[ADDRESS] & ~nibbles) | (DATAIN & nibbles);
        DATAOUT <= UNDEFINED;
      end else DATAOUT <= memory[ADDRESS];
    end
endmodule
`endif
