import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cached } from '../core/cache.ts';
import { ToolError } from '../core/errors.ts';
import { runTool } from '../core/runner.ts';
import { render } from '../core/templates.ts';
import { toolVersions } from '../core/tools.ts';

/**
 * OpenSTA (Debian `sta` 2.0.17) on a mapped netlist: report_power with a virtual clock and
 * input activities, report_checks for the critical path. Its power is probabilistic (activity
 * propagation, no simulation): exact on logic without reconvergent fan-out, a cross-check only
 * on multipliers (docs/conventions.md, Tool behaviour).
 */
export interface OpenStaOptions {
  liberty: string;
  netlistVerilog: string;
  top: string;
  clockMHz: number;
  inputSlewNs: number;
  outputLoadPf: number;
  /** Default activity (transitions per clock) and duty for every input. */
  activity: number;
  duty: number;
  /** Per input port bit (e.g. `a[3]`) activity and duty, overriding the default. */
  portActivity?: { port: string; activity: number; duty: number }[];
  /** Directory for the TCL script and log (default: a content-addressed cache entry). */
  dir?: string;
}

export interface OpenStaResult {
  /** mW */
  internalMw: number;
  switchingMw: number;
  leakageMw: number;
  totalMw: number;
  criticalPathNs?: number;
  dir: string;
  log: string;
}

export async function runOpenSta(o: OpenStaOptions): Promise<OpenStaResult> {
  const tcl = render('synth/power.tcl', {
    liberty: o.liberty,
    netlist: o.netlistVerilog,
    top: o.top,
    periodNs: fmt(1000 / o.clockMHz),
    inputSlewNs: fmt(o.inputSlewNs),
    outputLoadPf: fmt(o.outputLoadPf),
    activity: fmt(o.activity),
    duty: fmt(o.duty),
    portActivity: (o.portActivity ?? []).map((p) => ({ port: p.port, activity: fmt(p.activity), duty: fmt(p.duty) })),
  });
  // Cached by content (script, netlist text, liberty text, sta version): no scratch dirs left behind.
  const run = async (dir: string) => {
    mkdirSync(dir, { recursive: true });
    await runStaScript(dir, 'power.tcl', tcl);
  };
  let dir: string;
  if (o.dir) {
    dir = o.dir;
    await run(dir);
  } else {
    const res = await cached(
      {
        kind: 'opensta',
        inputs: staCacheInputs(tcl, o.netlistVerilog, o.liberty),
      },
      run,
    );
    dir = res.dir;
  }
  const script = join(dir, 'power.tcl');
  const log = join(dir, 'sta.log');
  const out = readFileSync(join(dir, 'sta.out'), 'utf8');
  const power = /AXTPU-POWER-BEGIN([\s\S]*?)AXTPU-POWER-END/.exec(out)?.[1] ?? '';
  const total = /^Total\s+([-\d.eE+]+)\s+([-\d.eE+]+)\s+([-\d.eE+]+)\s+([-\d.eE+]+)/m.exec(power);
  if (!total) throw new ToolError('sta', `sta ${script}`, log, out.split('\n').slice(-20).join('\n'), 'no report_power Total line in output');
  const w = (i: number) => Number(total[i]) * 1e3;
  const checks = /AXTPU-CHECKS-BEGIN([\s\S]*?)AXTPU-CHECKS-END/.exec(out)?.[1] ?? '';
  const arrival = /([-\d.]+)\s+data arrival time/.exec(checks);
  return {
    internalMw: w(1),
    switchingMw: w(2),
    leakageMw: w(3),
    totalMw: w(4),
    criticalPathNs: arrival ? Number(arrival[1]) : undefined,
    dir,
    log,
  };
}

function fmt(x: number): string {
  return Number.isInteger(x) ? String(x) : x.toPrecision(10);
}

/**
 * Latest data arrival over every endpoint (flip-flop D pins and output ports) from OpenSTA
 * `report_checks` with the clock on `clockPort` (or a virtual clock for combinational logic):
 * the static reference for the timed simulator's clock (synth/timed-sim.ts `timingBound`).
 * Arrival, not slack: setup times are not part of either side.
 */
export async function runOpenStaArrival(o: {
  liberty: string;
  netlistVerilog: string;
  top: string;
  clockPort?: string;
  inputSlewNs: number;
  outputLoadPf: number;
  endpoints: number;
}): Promise<{ arrivalNs: number; paths: number; dir: string }> {
  const tcl = render('synth/timing.tcl', {
    liberty: o.liberty,
    netlist: o.netlistVerilog,
    top: o.top,
    clockPort: o.clockPort ?? '',
    periodNs: 1000,
    inputSlewNs: fmt(o.inputSlewNs),
    outputLoadPf: fmt(o.outputLoadPf),
    endpoints: Math.max(1, o.endpoints),
  });
  const res = await cached(
    {
      kind: 'opensta-arrival',
      inputs: staCacheInputs(tcl, o.netlistVerilog, o.liberty),
    },
    (dir) => runStaScript(dir, 'timing.tcl', tcl),
  );
  const out = readFileSync(join(res.dir, 'sta.out'), 'utf8');
  const checks = /AXTPU-CHECKS-BEGIN([\s\S]*?)AXTPU-CHECKS-END/.exec(out)?.[1] ?? '';
  const arrivals = [...checks.matchAll(/([-\d.]+)\s+data arrival time/g)].map((m) => Number(m[1]));
  if (!arrivals.length)
    throw new ToolError(
      'sta',
      `sta ${join(res.dir, 'timing.tcl')}`,
      join(res.dir, 'sta.log'),
      out.split('\n').slice(-20).join('\n'),
      'no data arrival time in report_checks',
    );
  return { arrivalNs: Math.max(...arrivals), paths: arrivals.length, dir: res.dir };
}

/** Write a TCL script into `dir` and run OpenSTA on it there; its output goes to sta.out (sta.log: the runner's log). */
async function runStaScript(dir: string, name: string, tcl: string): Promise<void> {
  writeFileSync(join(dir, name), tcl);
  const r = await runTool({ tool: 'sta', args: ['-no_init', '-no_splash', '-exit', name], cwd: dir, logFile: join(dir, 'sta.log'), timeoutMs: 300_000 });
  writeFileSync(join(dir, 'sta.out'), r.all);
}

/** What an OpenSTA result depends on (its cache key): the script, the netlist text, the liberty's content, the sta version. */
function staCacheInputs(tcl: string, netlistVerilog: string, liberty: string) {
  return {
    tcl,
    netlist: readFileSync(netlistVerilog, 'utf8'),
    liberty: createHash('sha256').update(readFileSync(liberty)).digest('hex'),
    tools: toolVersions(['opensta']),
  };
}
