import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ToolError, UserError } from '../core/errors.ts';
import { runTool } from '../core/runner.ts';

const dir = mkdtempSync(join(tmpdir(), 'axtpu-runner-'));
process.env.AXTPU_CACHE = mkdtempSync(join(tmpdir(), 'axtpu-runner-cache-'));

describe('tool runner', () => {
  it('captures output into the log file', async () => {
    const log = join(dir, 'ok.log');
    const r = await runTool({ tool: 'sh', args: ['-c', 'echo hello; echo oops >&2'], logFile: log });
    expect(r.exitCode).toBe(0);
    expect(r.stdout.trim()).toBe('hello');
    const text = readFileSync(log, 'utf8');
    expect(text).toContain('$ sh -c');
    expect(text).toContain('hello');
    expect(text).toContain('oops');
  });

  it('a failing tool gives an error naming the tool, the command line and the tail of its log', async () => {
    const log = join(dir, 'fail.log');
    const script = 'for i in $(seq 1 100); do echo line$i; done; echo fatal: the real reason >&2; exit 3';
    const err = await runTool({ tool: 'sh', args: ['-c', script], logFile: log, tailLines: 5 }).catch((e) => e);
    expect(err).toBeInstanceOf(ToolError);
    const e = err as ToolError;
    expect(e.tool).toBe('sh');
    expect(e.commandLine).toContain("sh -c 'for i in");
    expect(e.reason).toBe('exit code 3');
    // A log in a scratch folder is copied to the cache's failed-logs/ so it outlives the scratch.
    expect(readFileSync(e.logFile!, 'utf8')).toBe(readFileSync(log, 'utf8'));
    expect(e.logTail).toContain('fatal: the real reason');
    expect(e.logTail).not.toContain('line90\n');
    expect(e.logTail.split('\n').length).toBe(5);
    expect(e.message).toContain('sh failed (exit code 3)');
    expect(e.message).toContain('command: sh -c');
    expect(existsSync(log)).toBe(true);
  });

  it('a real EDA tool failure is reported the same way (verilator on broken Verilog)', async () => {
    const log = join(dir, 'verilator.log');
    const src = join(dir, 'broken.v');
    (await import('node:fs')).writeFileSync(src, 'module broken(input a, output b);\n assign b = a +;\nendmodule\n');
    const err = await runTool({ tool: 'verilator', args: ['--lint-only', src], logFile: log }).catch((e) => e);
    expect(err).toBeInstanceOf(ToolError);
    expect((err as ToolError).tool).toBe('verilator');
    expect((err as ToolError).logTail).toMatch(/syntax error/i);
  });

  it('times out and says so', async () => {
    const err = await runTool({ tool: 'sleep', args: ['5'], timeoutMs: 200 }).catch((e) => e);
    expect(err).toBeInstanceOf(ToolError);
    expect((err as ToolError).reason).toMatch(/timed out after 200 ms/);
  });

  it('a missing tool is a set-up problem: one line naming the tool and the fix', async () => {
    const err = await runTool({ tool: 'axtpu-no-such-tool', args: [] }).catch((e) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).message).toBe('axtpu-no-such-tool: not found on PATH; run `make setup` or `axtpu doctor`');
  });
});
