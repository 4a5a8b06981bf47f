import { resolve } from 'node:path';
import { defaultLiberty } from '../core/paths.ts';
import { bankStimulus, gateBank, openStaExactCells } from './bank.ts';
import { type EnergyEstimate, estimateEnergy } from './energy.ts';
import { buildGateSim, runGateSim } from './gatesim.ts';
import { loadLiberty } from './liberty.ts';
import { type OpenStaResult, runOpenSta } from './opensta.ts';
import { inputActivities } from './power.ts';
import { synthesize } from './yosys.ts';

/**
 * The OpenSTA agreement check: a bank of gates without reconvergent fan-out, driven by a random
 * stream in which each gate sees one input switch per cycle, estimated by axtpu (simulation)
 * and by OpenSTA (probabilistic propagation from the measured per-input activity and duty).
 */
export interface BankCrossCheck {
  liberty: string;
  cells: string[];
  vectors: number;
  ours: EnergyEstimate;
  opensta: OpenStaResult;
  /** mW, OpenSTA internal halved (sta 2.0.17 charges rise + fall energy per transition). */
  compare: {
    internal: { ours: number; opensta: number; rel: number };
    switching: { ours: number; opensta: number; rel: number };
    leakage: { ours: number; opensta: number; rel: number };
  };
}

export async function gateBankCrossCheck(o: {
  liberty?: string;
  vectors?: number;
  clockMHz?: number;
  outputLoadPf?: number;
  inputSlewNs?: number;
  cells?: string[];
  seed?: number;
}): Promise<BankCrossCheck> {
  const liberty = resolve(o.liberty ?? defaultLiberty());
  const lib = loadLiberty(liberty);
  const cells = o.cells ?? openStaExactCells(lib);
  const bank = gateBank(lib, cells);
  const s = await synthesize({ top: bank.top, sources: { 'gate_bank.v': bank.verilog }, liberty });
  const model = buildGateSim(s.netlist, lib);
  const n = o.vectors ?? 65_536;
  const r = runGateSim(model, bankStimulus(bank, n, o.seed ?? 7));
  const clockMHz = o.clockMHz ?? 100;
  const outputLoadPf = o.outputLoadPf ?? 0.02;
  const inputSlewNs = o.inputSlewNs ?? 0.1;
  const ours = estimateEnergy(model, r, { clockMHz, outputLoadPf, inputSlewNs });
  const sta = await runOpenSta({
    liberty,
    netlistVerilog: s.netlistVerilog,
    top: bank.top,
    clockMHz,
    inputSlewNs,
    outputLoadPf,
    activity: 0.5,
    duty: 0.5,
    portActivity: inputActivities(model, r),
  });
  const cmp = (a: number, b: number) => ({ ours: a, opensta: b, rel: b === 0 ? (a === 0 ? 0 : Infinity) : a / b - 1 });
  return {
    liberty,
    cells,
    vectors: n,
    ours,
    opensta: sta,
    compare: {
      internal: cmp(ours.powerMw.internal, sta.internalMw / 2),
      switching: cmp(ours.powerMw.switching, sta.switchingMw),
      leakage: cmp(ours.powerMw.leakage, sta.leakageMw),
    },
  };
}
