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
