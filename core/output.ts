/** Printing results: humans get tables, `--json` gets one JSON document on stdout. */
export interface OutputOptions {
  json?: boolean;
}

export function emit<T>(opts: OutputOptions, result: T, human: (r: T) => string): void {
  if (opts.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  else {
    const text = human(result);
    if (text) process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  }
}

/** Fixed-width text table; numbers right-aligned. */
export function table(headers: string[], rows: (string | number)[][]): string {
  const cells = rows.map((r) => r.map((c) => String(c)));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const isNum = headers.map((_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === 'number'));
  const fmt = (r: string[]) =>
    r
      .map((c, i) => (isNum[i] ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [fmt(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(fmt)].join('\n');
}

/** Markdown table for reports. */
export function markdownTable(headers: string[], rows: (string | number)[][]): string {
  const line = (r: (string | number)[]) => `| ${r.map(String).join(' | ')} |`;
  return [line(headers), `|${headers.map(() => '---').join('|')}|`, ...rows.map(line)].join('\n');
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}
