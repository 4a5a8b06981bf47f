import type { Command } from 'commander';
import { registerClean } from './clean.ts';
import { registerDoctor } from './doctor.ts';
import { registerEval } from './eval.ts';
import { registerExplore } from './explore.ts';
import { registerGen } from './gen.ts';
import { registerMult } from './mult.ts';
import { registerPower } from './power.ts';
import { registerQuantize } from './quantize.ts';
import { registerRun } from './run.ts';
import { registerSim } from './sim.ts';
import { registerSweep } from './sweep.ts';
import { registerSynth } from './synth.ts';
import { registerVos } from './vos.ts';
import { registerWorker } from './worker.ts';

/** Every subcommand registers itself here, one line each. */
export function registerAll(program: Command): void {
  registerDoctor(program);
  registerClean(program);
  registerSynth(program);
  registerPower(program);
  registerMult(program);
  registerEval(program);
  registerQuantize(program);
  registerGen(program);
  registerSim(program);
  registerRun(program);
  registerExplore(program);
  registerSweep(program);
  registerWorker(program);
  registerVos(program);
}
