/**
 * Progress for long steps, on stderr so `--json` stdout stays clean. On a TTY it redraws one
 * line; otherwise it prints a line at most every 10 % (logs stay short in CI).
 */
export class Progress {
  private done = 0;
  private lastPct = -1;
  private readonly start = Date.now();
  private readonly tty = Boolean(process.stderr.isTTY);

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly enabled = !process.env.AXTPU_QUIET,
  ) {}

  tick(n = 1, note = ''): void {
    this.done = Math.min(this.total, this.done + n);
    if (!this.enabled || this.total <= 0) return;
    const pct = Math.floor((100 * this.done) / this.total);
    const elapsed = (Date.now() - this.start) / 1000;
    const eta = this.done > 0 ? (elapsed * (this.total - this.done)) / this.done : 0;
    if (this.tty) {
      const width = 24;
      const fill = Math.round((width * this.done) / this.total);
      process.stderr.write(
        `\r${this.label} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${this.done}/${this.total} ${elapsed.toFixed(0)}s eta ${eta.toFixed(0)}s ${note}`.padEnd(
          100,
        ),
      );
      if (this.done === this.total) process.stderr.write('\n');
    } else if (pct >= this.lastPct + 10 || this.done === this.total) {
      this.lastPct = pct - (pct % 10);
      process.stderr.write(`${this.label}: ${this.done}/${this.total} (${pct}%) ${elapsed.toFixed(0)}s ${note}\n`);
    }
  }
}
