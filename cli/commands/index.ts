import type { Command } from 'commander';
import { registerDoctor } from './doctor.ts';
import { registerClean } from './clean.ts';

/** Every subcommand registers itself here, one line each. */
export function registerAll(program: Command): void {
  registerDoctor(program);
  registerClean(program);
}
