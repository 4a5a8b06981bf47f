import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { ensureDir } from './atomic.ts';
import { kindDir } from './cache.ts';
import { ToolError, UserError } from './errors.ts';

/**
 * The one way axtpu runs external tools (verilator, yosys, sta, make, g++...).
 * Output is captured into a log file next to the run's outputs; a failure becomes a ToolError
 * naming the tool, the exact command line and the tail of its log.
 */
export interface ToolRun {
  /** Executable name or path. */
  tool: string;
  args: string[];
  cwd?: string;
  /** Where stdout+stderr go. Strongly recommended: next to the outputs the tool produces. */
  logFile?: string;
  /** Kill the tool after this many ms (default 10 minutes). */
  timeoutMs?: number;
  env?: Record<string, string | undefined>;
  input?: string | Uint8Array;
  /** Exit codes that count as success (default [0]). */
  okExitCodes?: number[];
  /** Lines of log quoted in the error (default 25). */
  tailLines?: number;
}

export interface ToolResult {
  stdout: string;
  stderr: string;
  /** stdout and stderr interleaved as the tool wrote them. */
  all: string;
  exitCode: number;
  durationMs: number;
  logFile?: string;
}

export function quoteArg(a: string): string {
  return /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}

export function commandLine(tool: string, args: string[]): string {
  return [tool, ...args].map(quoteArg).join(' ');
}

export function tail(text: string, lines: number): string {
  const all = text.replace(/\s+$/, '').split('\n');
  return all.slice(Math.max(0, all.length - lines)).join('\n');
}

export async function runTool(run: ToolRun): Promise<ToolResult> {
  const cmd = commandLine(run.tool, run.args);
  const start = Date.now();
  const result = await execa(run.tool, run.args, {
    cwd: run.cwd,
    timeout: run.timeoutMs ?? 600_000,
    env: run.env,
    extendEnv: true,
    input: run.input,
    all: true,
    reject: false,
    stripFinalNewline: false,
    maxBuffer: 512 * 1024 * 1024,
  });
  const all = String(result.all ?? '');
  if (run.logFile) {
    ensureDir(dirname(run.logFile));
    writeFileSync(run.logFile, `$ ${cmd}\n${all}`);
  }
  const n = run.tailLines ?? 25;
  const ok = run.okExitCodes ?? [0];
  if (result.failed && (result.timedOut || result.exitCode === undefined || !ok.includes(result.exitCode))) {
    // A missing tool is a set-up problem, not a tool failure: one line, exit 2.
    if ((result as { code?: string }).code === 'ENOENT' || /\bENOENT\b/.test(result.message ?? ''))
      throw new UserError(`${run.tool}: not found on PATH; run \`make setup\` or \`axtpu doctor\``);
    let reason: string;
    if (result.timedOut) reason = `timed out after ${run.timeoutMs ?? 600_000} ms`;
    else if (result.exitCode !== undefined) reason = `exit code ${result.exitCode}`;
    else reason = result.signal ? `killed by ${result.signal}` : (result.message?.split('\n')[0] ?? 'failed');
    throw new ToolError(run.tool, cmd, keepLog(run.logFile), tail(all || result.message || '', n), reason);
  }
  return {
    stdout: String(result.stdout ?? ''),
    stderr: String(result.stderr ?? ''),
    all,
    exitCode: result.exitCode ?? 0,
    durationMs: Date.now() - start,
    logFile: run.logFile,
  };
}

/**
 * Start a long-lived tool (e.g. a Verilator harness driven over a pipe). stdin/stdout stay
 * piped for the caller; stderr goes to the log file. Call `toolErrorFor` to turn a crash
 * into the same ToolError shape as runTool.
 */
export function spawnTool(run: Omit<ToolRun, 'input' | 'okExitCodes'> & { logFile: string }): ResultPromise {
  ensureDir(dirname(run.logFile));
  writeFileSync(run.logFile, `$ ${commandLine(run.tool, run.args)}\n`);
  return execa(run.tool, run.args, {
    cwd: run.cwd,
    env: run.env,
    extendEnv: true,
    timeout: run.timeoutMs,
    stdin: 'pipe',
    stdout: 'pipe',
    stderr: { file: run.logFile, append: true },
    encoding: 'buffer',
    buffer: false,
    reject: false,
  });
}

export function toolErrorFor(run: { tool: string; args: string[]; logFile: string }, reason: string, lines = 25): ToolError {
  const log = existsSync(run.logFile) ? readFileSync(run.logFile, 'utf8') : '';
  return new ToolError(run.tool, commandLine(run.tool, run.args), keepLog(run.logFile), tail(log, lines), reason);
}

/**
 * A failed tool's log in a scratch folder (tmp or a cache build) would be deleted with it; keep a
 * copy in the cache's failed-logs/ so the path in the error message still exists afterwards.
 */
function keepLog(logFile: string | undefined): string | undefined {
  if (!logFile || !existsSync(logFile)) return logFile;
  if (!logFile.startsWith(tmpdir()) && !/\.build-/.test(logFile)) return logFile;
  try {
    const kept = join(kindDir('failed-logs'), `${new Date().toISOString().replace(/[:.]/g, '-')}-${process.pid}-${basename(logFile)}`);
    copyFileSync(logFile, kept);
    return kept;
  } catch {
    return logFile;
  }
}
