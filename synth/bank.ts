import { xorshift32 } from '../core/rng.ts';
import { render } from '../core/templates.ts';
import type { BoolExpr } from './boolexpr.ts';
import type { GateSimStimulus } from './gatesim.ts';
import { inputPins, type Library, outputPins } from './liberty.ts';

/**
 * A bank of gates for the OpenSTA cross-check: one instance of each combinational library
 * cell (or the ones named), each input pin on its own primary input, each output pin on its
 * own primary output. With no reconvergent fan-out and at most one input of a gate switching
 * per cycle, OpenSTA's probabilistic activity propagation is exact, so both estimators must
 * agree up to sampling noise.
 */
export interface GateBank {
  top: string;
  verilog: string;
  gates: { inst: string; cell: string; inputs: string[]; outputs: string[] }[];
  inputPorts: string[];
  outputPorts: string[];
}

export function combinationalCells(lib: Library): string[] {
  return [...lib.cells.values()]
    .filter((c) => !c.sequential && !c.dontUse && !c.isPad)
    .filter((c) => outputPins(c).length > 0 && outputPins(c).every((p) => p.functionExpr && !p.threeState))
    .filter((c) => inputPins(c).length > 0)
    .map((c) => c.name)
    .sort();
}

/**
 * Cells on which OpenSTA 2.0.17's power model is exact, so the cross-check can demand 2 %:
 * one output whose function is (after inversions) a literal or a 2-input AND/OR of distinct
 * literals. Excluded, with the reason found in its Power.cc: XOR/XNOR (its XOR activity rule
 * weights each input by P(other)=1/2 instead of 1, a 4x under-estimate at duty 1/2), and cells
 * with deeper functions (AOI/OAI/NAND3/MUX/FA/HA), where its internal-power arc weights fall
 * back to a fixed duty of 1/2 per arc.
 */
export function openStaExactCells(lib: Library): string[] {
  const strip = (e: BoolExpr): BoolExpr => (e.op === 'not' ? strip(e.a) : e);
  const ok = (e: BoolExpr): boolean => {
    const x = strip(e);
    if (x.op === 'var') return true;
    if (x.op !== 'and' && x.op !== 'or') return false;
    const a = strip(x.a);
    const b = strip(x.b);
    return a.op === 'var' && b.op === 'var' && a.name !== b.name;
  };
  return combinationalCells(lib).filter((n) => {
    const outs = outputPins(lib.cells.get(n)!);
    return outs.length === 1 && ok(outs[0]!.functionExpr!);
  });
}

export function gateBank(lib: Library, cells = combinationalCells(lib), copies = 1, top = 'axtpu_gate_bank'): GateBank {
  const gates: GateBank['gates'] = [];
  const ports: { dir: string; name: string }[] = [];
  const instances: { cell: string; inst: string; pins: { pin: string; net: string }[] }[] = [];
  let g = 0;
  for (let k = 0; k < copies; k++)
    for (const name of cells) {
      const lc = lib.cells.get(name);
      if (!lc) throw new Error(`gate bank: no cell ${name}`);
      const inst = `g${g++}_${name}`;
      const pins: { pin: string; net: string }[] = [];
      const ins: string[] = [];
      const outs: string[] = [];
      for (const p of inputPins(lc)) {
        const net = `${inst}_${p.name}`;
        ins.push(net);
        ports.push({ dir: 'input', name: net });
        pins.push({ pin: p.name, net });
      }
      for (const p of outputPins(lc)) {
        const net = `${inst}_${p.name}`;
        outs.push(net);
        ports.push({ dir: 'output', name: net });
        pins.push({ pin: p.name, net });
      }
      gates.push({ inst, cell: name, inputs: ins, outputs: outs });
      instances.push({ cell: name, inst, pins });
    }
  const verilog = render('synth/gate_bank.v', { top, ports, gates: instances });
  return {
    top,
    verilog,
    gates,
    inputPorts: gates.flatMap((x) => x.inputs),
    outputPorts: gates.flatMap((x) => x.outputs),
  };
}

/**
 * Random stimulus for a bank: in cycle t, gate input (t mod k) of each k-input gate takes a fresh
 * random bit (so it toggles with probability 1/2); the other inputs hold. Duty 1/2 everywhere,
 * activity 1/(2k) per input, never two inputs of one gate switching together.
 */
export function bankStimulus(bank: GateBank, n: number, seed = 7): GateSimStimulus {
  const next = xorshift32(seed);
  const rnd = () => next() & 1;
  const ports: Record<string, Uint8Array> = {};
  for (const gte of bank.gates) {
    const arrs = gte.inputs.map((p) => (ports[p] = new Uint8Array(n)));
    for (const a of arrs) a[0] = rnd();
    for (let t = 1; t < n; t++) {
      const j = t % arrs.length;
      for (const [i, a] of arrs.entries()) a[t] = i === j ? rnd() : a[t - 1]!;
    }
  }
  return { n, ports };
}
