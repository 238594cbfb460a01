// An 8N1 UART, receiver and transmitter: the board top's host link (a USB-serial bridge such
// as the ULX3S's FT231X). CLOCKS_PER_BIT is the clock divided by the baud rate: 25 for
// 1 Mbaud at 25 MHz (an FTDI rate with an exact divisor); a simulation may use fewer.

// Receives a byte: samples each bit in its middle, a two-flop synchronizer in front; `valid`
// is high for one cycle with `data`. A start bit that is gone by its middle is ignored; a
// byte whose stop bit is low (a framing error) is dropped.
module lif_uart_rx #(
    parameter integer CLOCKS_PER_BIT = 25
) (
    input wire clk,
    input wire rst_n,
    input wire rx,
    output reg valid,
    output reg [7:0] data
);
  reg [1:0] sync;
  reg busy;
  // a bit time's count, as wide as CLOCKS_PER_BIT needs
  localparam integer CB = CLOCKS_PER_BIT > 2 ? $clog2(CLOCKS_PER_BIT) : 1;
  reg [3:0] index;  // 0: start bit, 1-8: data bits, 9: stop bit
  reg [CB-1:0] count;
  reg [7:0] shift;

  always @(posedge clk) begin
    sync <= {sync[0], rx};
    valid <= 1'b0;
    if (!rst_n) begin
      sync <= 2'b11;
      busy <= 1'b0;
    end else if (!busy) begin
      if (!sync[1]) begin  // a start bit's falling edge
        busy <= 1'b1;
        index <= 4'd0;
        count <= CLOCKS_PER_BIT / 2;
      end
    end else if (count != 0) count <= count - 1'b1;
    else begin  // the middle of bit `index`
      count <= CLOCKS_PER_BIT - 1;
      index <= index + 4'd1;
      if (index == 4'd0) begin
        if (sync[1]) busy <= 1'b0;
      end else if (index <= 4'd8) shift <= {sync[1], shift[7:1]};
      else begin
        busy <= 1'b0;
        valid <= sync[1];
        data <= shift;
      end
    end
  end
endmodule

// Sends `data` when `start` is high and it is not `busy` (the stop bit is held a whole bit
// time before `busy` falls).
module lif_uart_tx #(
    parameter integer CLOCKS_PER_BIT = 25
) (
    input wire clk,
    input wire rst_n,
    input wire start,
    input wire [7:0] data,
    output wire busy,
    output reg tx
);
  reg [8:0] shift;  // the data bits, then the stop bit
  localparam integer CB = CLOCKS_PER_BIT > 2 ? $clog2(CLOCKS_PER_BIT) : 1;
  reg [3:0] periods;  // bit periods left, the current one included
  reg [CB-1:0] count;
  assign busy = periods != 4'd0;

  always @(posedge clk) begin
    if (!rst_n) begin
      tx <= 1'b1;
      periods <= 4'd0;
    end else if (periods == 4'd0) begin
      if (start) begin
        tx <= 1'b0;  // the start bit
        shift <= {1'b1, data};
        periods <= 4'd10;
        count <= CLOCKS_PER_BIT - 1;
      end
    end else if (count != 0) count <= count - 1'b1;
    else begin
      tx <= shift[0];
      shift <= {1'b1, shift[8:1]};
      periods <= periods - 4'd1;
      count <= CLOCKS_PER_BIT - 1;
    end
  end
endmodule
