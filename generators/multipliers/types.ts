/**
 * The contract every multiplier cell meets (docs/conventions.md, Cells: port binding, signedness, ids).
 * One parameter record produces the model, the Verilog, the metrics and the LUT.
 *
 * Ports: module <moduleName> (input [N-1:0] a, input [N-1:0] b, output [2N-1:0] p);
 * `a` is the activation, `b` the weight; combinational. Signedness is a property of the cell;
 * signed products are 2N-bit two's complement.
 */
export interface CellRecord {
  /** Canonical, parameter-bearing id, e.g. `drum_k6_u8`, `roup_p1_r4_s8`, `ext:mul8u_L40`. */
  id: string;
  /** Family name, e.g. `exact`, `drum`, `roup`, `bam`, `ext`. */
  family: string;
  /** Operand width N (8 for everything the array and the DNN engine use). */
  bits: number;
  signed: boolean;
  /** The family's parameters (e.g. { k: 6 }); the id is derived from these. */
  params: Record<string, number | string>;
}

export interface Cell extends CellRecord {
  /** Verilog module name (the id made a legal identifier). */
  moduleName: string;
  /** Bit-exact behaviour on raw codes a, b in [0, 2^N); returns the product as a number
   *  (negative for signed cells). */
  model(a: number, b: number): number;
  /** Structural Verilog text defining `moduleName` (and any submodules it uses, uniquely prefixed). */
  verilog(): string;
  /** One-line human description of what the approximation does. */
  describe(): string;
}
