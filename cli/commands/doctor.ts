import type { Command } from 'commander';
import { emit, table } from '../../core/output.ts';
import { cacheRoot } from '../../core/paths.ts';
import { type DataStatus, datasetStatus, libertyStatus, TOOLS, type ToolStatus, toolStatus } from '../../core/tools.ts';
import { nativeDoctorStatus } from '../../nn/native.ts';
import { globals } from '../context.ts';

export interface DoctorReport {
  ok: boolean;
  node: string;
  tools: ToolStatus[];
  liberty: DataStatus[];
  datasets: DataStatus[];
  cache: string;
  missingPackages: string[];
  /** DNN engine native kernels (optional: JS fallback). */
  nnNative: { ok: boolean; detail: string };
}

export function doctorReport(): DoctorReport {
  const tools = TOOLS.map(toolStatus);
  const liberty = libertyStatus();
  const datasets = datasetStatus();
  const missing = [...tools, ...liberty, ...datasets].filter((x) => !x.ok).map((x) => x.pkg);
  return {
    ok: missing.length === 0,
    node: process.version,
    tools,
    liberty,
    datasets,
    cache: cacheRoot(),
    missingPackages: [...new Set(missing)],
    nnNative: nativeDoctorStatus(),
  };
}

function human(r: DoctorReport): string {
  const lines: string[] = [];
  lines.push(
    table(
      ['tool', 'status', 'version', 'path', 'used for'],
      r.tools.map((t) => [t.name, t.ok ? 'ok' : 'MISSING', t.version ?? '-', t.path ?? '-', t.purpose]),
    ),
  );
  lines.push('');
  lines.push(
    table(
      ['data', 'status', 'path'],
      [...r.liberty, ...r.datasets].map((d) => [d.name, d.ok ? 'ok' : 'MISSING', d.path + (d.detail ? ` (${d.detail})` : '')]),
    ),
  );
  lines.push('', `node ${r.node}; build cache ${r.cache}`);
  lines.push(`DNN native kernels: ${r.nnNative.ok ? 'ok' : 'unavailable'}, ${r.nnNative.detail}`);
  if (!r.ok) {
    lines.push('', `missing: install with \`sudo apt-get install -y ${r.missingPackages.join(' ')}\` or run \`make setup\``);
  } else lines.push('all tools and data found');
  return lines.join('\n');
}

export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description('check external tools, liberty files and datasets; exit 1 with install hints if something is missing')
    .action((_opts, cmd: Command) => {
      const r = doctorReport();
      emit(globals(cmd), r, human);
      if (!r.ok) process.exitCode = 1;
    });
}
