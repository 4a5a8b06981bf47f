/**
 * Error kinds the CLI maps to exit codes. A UserError is a bad input the user can fix:
 * the CLI prints its single-line message and exits 2, never a stack trace.
 */
export class UserError extends Error {
  readonly exitCode = 2;
  constructor(message: string) {
    super(message);
    this.name = 'UserError';
  }
}

/** An external tool (verilator, yosys, sta, ...) failed; carries what a user needs to debug it. */
export class ToolError extends Error {
  readonly exitCode = 1;
  constructor(
    readonly tool: string,
    readonly commandLine: string,
    readonly logFile: string | undefined,
    readonly logTail: string,
    readonly reason: string,
  ) {
    super(`${tool} failed (${reason})\n  command: ${commandLine}\n${logFile ? `  log: ${logFile}\n` : ''}  last lines of log:\n${indent(logTail, '    ')}`);
    this.name = 'ToolError';
  }
}

function indent(text: string, pad: string): string {
  return text
    .split('\n')
    .map((l) => pad + l)
    .join('\n');
}

/** First line of an error message, for one-line reports. */
export function oneLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split('\n')[0] ?? msg;
}

/**
 * File-system failures a user causes (a folder where a file belongs, a read-only or full disk,
 * a dangling symlink...) and what to say about them. The one place Node's error codes become
 * user-facing words; every command gets the same one-line message through `fsUserError`.
 */
const FS_PROBLEMS: Record<string, string> = {
  EISDIR: 'is a folder where a file is expected',
  ENOTDIR: 'a file stands where a folder is expected',
  EEXIST: 'already exists and is in the way',
  EROFS: 'is on a read-only file system',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ELOOP: 'too many levels of symbolic links (a symlink loop)',
  ENOENT: 'does not exist (or is a dangling symlink)',
  ENAMETOOLONG: 'path name too long',
  EMFILE: 'too many open files',
  ENXIO: 'no such device',
};

/** A Node fs error (has `code` and `path`) as a one-line UserError naming the path; else undefined. */
export function fsUserError(err: unknown): UserError | undefined {
  if (!(err instanceof Error)) return undefined;
  const e = err as NodeJS.ErrnoException & { dest?: string };
  const problem = e.code ? FS_PROBLEMS[e.code] : undefined;
  if (!problem) return undefined;
  // Some calls (reading a folder as a file) report no path: still the user's problem, still one line.
  if (!e.path && !e.dest) return new UserError(`file system: ${problem}${e.syscall ? ` (${e.syscall})` : ''}`);
  const where = e.dest && e.code === 'EEXIST' ? e.dest : (e.path ?? e.dest);
  const op = e.syscall ? ` (${e.syscall})` : '';
  return new UserError(`${where}: ${problem}${op}`);
}
