// The UP5K board top's buffer memory: the iCE40 UltraPlus's four SB_SPRAM256KA (16K words of
// 16 bits each) side by side, 16K 64-bit words (128 KB), where lif_board.v's inferred block
// RAM would need 256 of the part's 30 EBR. One port, as the board top's memory has: a write
// enable per 32-bit half (two whole SPRAMs each, so MASKWREN stays all ones) and the read
// word registered, that of the address given the cycle before; after a write cycle the read
// word is undefined (the primitive's). SPRAM is not initialized by the bitstream: the host
// writes every buffer the core reads (the parameter image, spikes, state) over the link
// before it starts the core. yosys maps SB_SPRAM256KA from its iCE40 cell library;
// lif_spram_model.v is its behaviour for Verilator.
module lif_spram (
    input wire clk,
    input wire [13:0] addr,
    input wire [63:0] wdata,
    input wire [1:0] write,  // [0]: bits 31:0, [1]: bits 63:32
    output wire [63:0] q
);
  genvar i;
  generate
    for (i = 0; i < 4; i = i + 1) begin : block
      SB_SPRAM256KA ram (
          .ADDRESS(addr),
          .DATAIN(wdata[16*i+15:16*i]),
          .MASKWREN(4'hf),
          .WREN(write[i/2]),
          .CHIPSELECT(1'b1),
          .CLOCK(clk),
          .STANDBY(1'b0),
          .SLEEP(1'b0),
          .POWEROFF(1'b1),
          .DATAOUT(q[16*i+15:16*i])
      );
    end
  endgenerate
endmodule
