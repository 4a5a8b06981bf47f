import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { fsUserError, ToolError, UserError } from '../core/errors.ts';
import { repoRoot } from '../core/paths.ts';
import { registerFor } from './commands/index.ts';

const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };

/** The program with the subcommands argv needs (all of them for help or an unknown word). */
export async function buildProgram(argv: readonly string[] = []): Promise<Command> {
  const program = new Command('axtpu')
    .description('Approximate-computing TPU toolkit: approximate multiplier cells, systolic-array RTL, synthesis, energy and DNN accuracy')
    .version(pkg.version, '-V, --version', 'print the axtpu version')
    .option('--json', 'machine-readable JSON output on stdout')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({ writeErr: () => {} });
  await registerFor(program, argv);
  // Subcommands inherit the exit override and quiet error writer.
  const quiet = (cmd: Command) => {
    cmd.exitOverride().configureOutput({ writeErr: () => {} });
    cmd.commands.forEach(quiet);
  };
  program.commands.forEach(quiet);
  return program;
}

/** Run the CLI; returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = await buildProgram(argv);
  if (argv.length === 0) {
    process.stderr.write(program.helpInformation());
    return 2;
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
    // Commands signal a non-fatal failure (e.g. doctor found something missing) via exitCode.
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    return reportError(err);
  }
}

export function reportError(err: unknown): number {
  // File-system problems (read-only disk, a folder where a file belongs...) are the user's to fix.
  err = fsUserError(err) ?? err;
  if (err instanceof CommanderError) {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
    // One usage line: commander's message already names the bad command or flag.
    const msg = err.message.replace(/^error:\s*/, '').split('\n')[0];
    process.stderr.write(`axtpu: ${msg} (see 'axtpu --help')\n`);
    return 2;
  }
  if (err instanceof UserError) {
    // One line, one 'axtpu:' prefix, whatever the message carried.
    const line = (err.message.split('\n')[0] ?? '').replace(/^(axtpu:?\s*)+/, '');
    process.stderr.write(`axtpu: ${line}\n`);
    return 2;
  }
  if (err instanceof ToolError) {
    process.stderr.write(`axtpu: ${err.message}\n`);
    return 1;
  }
  const e = err as Error;
  process.stderr.write(`axtpu: internal error: ${e?.message ?? String(err)}\n`);
  if (process.env.AXTPU_DEBUG) process.stderr.write(`${e?.stack ?? ''}\n`);
  else process.stderr.write('axtpu: set AXTPU_DEBUG=1 for a stack trace\n');
  return 1;
}
