import { join } from 'node:path';
import { execa } from 'execa';
import { repoRoot } from '../../core/paths.ts';

/** Run the real CLI as a child process (what a user types), capturing exit code and output. */
export async function runCli(args: string[], env: Record<string, string> = {}, opts: { extendEnv?: boolean; cwd?: string; timeoutMs?: number } = {}) {
  const r = await execa(process.execPath, [join(repoRoot, 'bin/axtpu.js'), ...args], {
    reject: false,
    env,
    extendEnv: opts.extendEnv ?? true,
    cwd: opts.cwd ?? repoRoot,
    timeout: opts.timeoutMs ?? 600_000,
  });
  return { code: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr), timedOut: Boolean(r.timedOut) };
}
