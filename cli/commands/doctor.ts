import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { emit, table } from '../../core/output.ts';
import { cacheRoot } from '../../core/paths.ts';
import { type DataStatus, datasetStatus, libertyStatus, TOOLS, type ToolStatus, toolStatus, torchStatus } from '../../core/tools.ts';
import { nativeDoctorStatus } from '../../nn/native.ts';
import { loadLiberty } from '../../synth/liberty.ts';
import { globals } from '../context.ts';

export interface DoctorReport {
  ok: boolean;
  node: string;
  tools: ToolStatus[];
  liberty: DataStatus[];
  datasets: DataStatus[];
  /** Debian python3-torch in the Python `axtpu finetune` drives ($AXTPU_PYTHON or /usr/bin/python3). */
  pytorch: DataStatus & { version?: string };
  cache: string;
  missingPackages: string[];
  /** DNN engine native kernels (optional: JS fallback). */
  nnNative: { ok: boolean; detail: string };
  /** Files that exist but do not parse (e.g. a garbage liberty): not fixed by installing packages. */
  broken: string[];
}

/** A liberty file that exists must also parse and hold cells, or every synth/power run fails later. */
function checkLibertyParses(d: DataStatus): DataStatus {
  if (!d.ok) return d;
  try {
    const lib = loadLiberty(d.path);
    if (lib.cells.size === 0) return { ...d, ok: false, detail: 'no cells in the library' };
    return { ...d, detail: `${lib.name}, ${lib.cells.size} cells` };
  } catch (err) {
    return { ...d, ok: false, detail: `does not parse: ${(err as Error).message.split('\n')[0]}` };
  }
}

export function doctorReport(): DoctorReport {
  const tools = TOOLS.map(toolStatus);
  const liberty = libertyStatus().map(checkLibertyParses);
  const datasets = datasetStatus();
  const broken = [...liberty, ...datasets].filter((x) => !x.ok && existsSync(x.path)).map((x) => x.path);
  const pytorch = torchStatus();
  const missing = [...tools, ...liberty, ...datasets].filter((x) => !x.ok && !broken.includes((x as DataStatus).path)).map((x) => x.pkg);
  if (!pytorch.ok) missing.push(pytorch.pkg);
  return {
    ok: missing.length === 0 && broken.length === 0,
    broken,
    node: process.version,
    tools,
    liberty,
    datasets,
    pytorch,
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
      [...r.liberty, ...r.datasets, r.pytorch].map((d) => [
        d.name,
        d.ok ? 'ok' : r.broken.includes(d.path) ? 'BROKEN' : 'MISSING',
        d.path + (d.detail ? ` (${d.detail})` : ''),
      ]),
    ),
  );
  lines.push('', `node ${r.node}; build cache ${r.cache}`);
  lines.push(`DNN native kernels: ${r.nnNative.ok ? 'ok' : 'unavailable'}, ${r.nnNative.detail}`);
  if (r.broken.length) lines.push('', `broken: ${r.broken.join(', ')} (see status above; fix or point AXTPU_LIBERTY at a valid liberty file)`);
  if (r.missingPackages.length) {
    lines.push('', `missing: install with \`sudo apt-get install -y ${r.missingPackages.join(' ')}\` or run \`make setup\``);
  } else if (r.ok) lines.push('all tools and data found');
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
