import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { OUTPUT_MARKER } from '../../core/atomic.ts';
import { clearCache } from '../../core/cache.ts';
import { emit, formatBytes } from '../../core/output.ts';
import { repoRoot, rtlOutDir, synthReportsDir } from '../../core/paths.ts';
import { globals } from '../context.ts';

/**
 * Empty an output folder but keep its tracked README. The repository's own rtl-out/ and
 * synth-reports/ hold only generated files; a folder chosen with AXTPU_RTL_OUT or
 * AXTPU_SYNTH_REPORTS may hold the user's files, so there only marked axtpu outputs go.
 */
function emptyOutputDir(dir: string, ownedByRepo: boolean): number {
  if (!existsSync(dir)) return 0;
  let n = 0;
  for (const name of readdirSync(dir)) {
    if (name === 'README.md') continue;
    if (!ownedByRepo && !existsSync(join(dir, name, OUTPUT_MARKER))) continue;
    rmSync(join(dir, name), { recursive: true, force: true });
    n++;
  }
  return n;
}

export function registerClean(program: Command): void {
  program
    .command('clean')
    .description('remove the build cache (Verilator models, Yosys results); --outputs also empties rtl-out/ and synth-reports/')
    .option('--outputs', 'also remove generated files in rtl-out/ and synth-reports/')
    .option('--kind <kind>', 'only this cache kind (e.g. verilator, yosys)')
    .action((opts: { outputs?: boolean; kind?: string }, cmd: Command) => {
      const removed = clearCache(opts.kind);
      const outputs = opts.outputs
        ? emptyOutputDir(rtlOutDir(), rtlOutDir() === join(repoRoot, 'rtl-out')) +
          emptyOutputDir(synthReportsDir(), synthReportsDir() === join(repoRoot, 'synth-reports'))
        : 0;
      emit(
        globals(cmd),
        { cache: removed.root, entries: removed.entries, bytes: removed.bytes, outputs },
        (r) =>
          `removed ${r.entries} cache entries (${formatBytes(r.bytes)}) from ${r.cache}` +
          (opts.outputs ? `; ${r.outputs} generated items from rtl-out/ and synth-reports/` : ''),
      );
    });
}
