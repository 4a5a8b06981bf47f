import type { Command } from 'commander';

type Register = (program: Command) => void;

/**
 * Every subcommand, in help order, loaded on demand: a command module pulls in its whole flow
 * (synthesis, engine, simulator), and loading all fourteen costs about a CPU-second per start.
 */
const COMMANDS: Record<string, () => Promise<Register>> = {
  doctor: async () => (await import('./doctor.ts')).registerDoctor,
  clean: async () => (await import('./clean.ts')).registerClean,
  synth: async () => (await import('./synth.ts')).registerSynth,
  power: async () => (await import('./power.ts')).registerPower,
  mult: async () => (await import('./mult.ts')).registerMult,
  eval: async () => (await import('./eval.ts')).registerEval,
  finetune: async () => (await import('./finetune.ts')).registerFinetune,
  quantize: async () => (await import('./quantize.ts')).registerQuantize,
  gen: async () => (await import('./gen.ts')).registerGen,
  sim: async () => (await import('./sim.ts')).registerSim,
  run: async () => (await import('./run.ts')).registerRun,
  explore: async () => (await import('./explore.ts')).registerExplore,
  sweep: async () => (await import('./sweep.ts')).registerSweep,
  worker: async () => (await import('./worker.ts')).registerWorker,
  vos: async () => (await import('./vos.ts')).registerVos,
  nas: async () => (await import('./nas.ts')).registerNas,
};

/**
 * Register the subcommand argv names, or all of them when argv names none (help, a typo that
 * needs suggestions). The only global options are flags, so the first bare word is the command.
 */
export async function registerFor(program: Command, argv: readonly string[]): Promise<void> {
  const word = argv.find((a) => !a.startsWith('-'));
  const names = word !== undefined && word in COMMANDS ? [word] : Object.keys(COMMANDS);
  const registers = await Promise.all(names.map((n) => (COMMANDS[n] as () => Promise<Register>)()));
  for (const register of registers) register(program);
}
