import { verilogExprSource } from './boolexpr.ts';
import { outputPins } from './liberty.ts';
import { pwlAt, type TimedModel, timingBound } from './timed-sim.ts';

/**
 * Template context (templates/synth/timed_netlist.v.hbs) of the same mapped netlist for Icarus
 * Verilog with fixed per-gate delays: every gate output a continuous assignment with inertial
 * (rise, fall) delays, each the largest over the gate's arcs at the static slews of
 * `timingBound`; flip-flops sample at the clock edge and drive Q after their clock->Q delay.
 * The side-by-side benchmark (bench/vos.ts) uses it; Icarus has no slew-dependent delays.
 */
export function timedVerilogContext(m: TimedModel, o: { periodNs: number; vectors: number; checkPort: string }): object {
  const b = timingBound(m);
  const cells = m.gs.netlist.cells.map((c) => m.gs.lib.cells.get(c.type)!);
  const ns = (x: number) => x.toFixed(6);
  const C0 = m.nNets - 2;
  const C1 = m.nNets - 1;
  // Gate g's expression over its input nets, in the pin order of buildTimedModel.
  const gates: { out: number; expr: string; rise: string; fall: string }[] = [];
  let g = 0;
  for (const ci of m.gs.order) {
    const lc = cells[ci]!;
    for (const op of outputPins(lc)) {
      if (typeof m.gs.netlist.cells[ci]!.conns[op.name] !== 'number') continue;
      const pins = [...lc.pins.values()].filter((p) => p.direction === 'input').map((p) => p.name);
      const b0 = m.gInOff[g]!;
      let rise = 0;
      let fall = 0;
      pins.forEach((_, j) => {
        const p = m.arcs[b0 + j]!;
        const s = b.slewNs[m.gIn[b0 + j]!]!;
        rise = Math.max(rise, pwlAt(p.x, p.riseD, s));
        fall = Math.max(fall, pwlAt(p.x, p.fallD, s));
      });
      const expr = verilogExprSource(op.functionExpr!, (name) => `n[${m.gIn[b0 + pins.indexOf(name)]!}]`);
      gates.push({ out: m.gOut[g]!, expr, rise: ns(rise), fall: ns(fall) });
      g++;
    }
  }
  const clock = m.gs.clockPorts[0] ?? 'clk';
  const ports = m.gs.netlist.ports.map((p) => {
    const isClock = m.gs.clockPorts.includes(p.name);
    const isInput = p.direction === 'input';
    return { name: p.name, dir: p.direction, msb: p.bits.length - 1, isClock, isInput, isData: isInput && !isClock, tbType: isInput ? 'reg' : 'wire' };
  });
  if (!m.gs.clockPorts.length) ports.push({ name: clock, dir: 'input', msb: 0, isClock: true, isInput: true, isData: false, tbType: 'reg' });
  return {
    top: m.gs.netlist.top,
    ports,
    clock,
    lastNet: m.nNets - 1,
    const0: C0,
    // Nets nothing drives read 0, as in the simulators.
    undriven: m.gs.drivers.flatMap((d, i) => (d.kind === 'none' ? [i] : [])),
    const1: C1,
    inputs: m.gs.inputBits.flatMap((x, k) => (m.inNet[k]! >= 0 ? [{ net: m.inNet[k]!, port: x.port, bit: x.bit }] : [])),
    outputs: m.gs.outputBits.map((x, k) => ({ port: x.port, bit: x.bit, net: m.outNet[k]! })),
    flops: Array.from(m.fD, (d, f) => {
      const c = m.fClkQ[f]!;
      return { d, q: m.fQ[f]!, qn: m.fQN[f]!, hasQ: m.fQ[f]! >= 0, hasQN: m.fQN[f]! >= 0, rise: ns(c.rise), fall: ns(c.fall) };
    }),
    gates,
    vectors: o.vectors,
    halfPeriod: ns(o.periodNs / 2),
    settleNs: ns(20 * b.criticalPathNs + 1),
    checkPort: o.checkPort,
  };
}
