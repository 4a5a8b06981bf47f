import type { Command } from 'commander';

/** Options every command sees (global flags declared on the root program). */
export interface GlobalOptions {
  json: boolean;
}

export function globals(cmd: Command): GlobalOptions {
  const o = cmd.optsWithGlobals() as { json?: boolean };
  return { json: Boolean(o.json) };
}
