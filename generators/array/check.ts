import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import { scratchDir } from '../../core/atomic.ts';
import { runTool } from '../../core/runner.ts';
import { render } from '../../core/templates.ts';
import { cellInfo } from './cells.ts';
import type { Design } from './config.ts';
import { generateViews, names, TOP } from './rtl.ts';

/**
 * Check generated RTL against its config through Verilator's own elaboration
 * (`--xml-only`): every PE instantiates the intended cell(s), every voltage-domain instance
 * holds exactly its configured columns. Returns the problems found (empty = consistent).
 */
export interface XmlCheck {
  problems: string[];
  pesChecked: number;
  domainsChecked: number;
}

interface XmlCell {
  name: string;
  submodname: string;
  hier: string;
  cell?: XmlCell[];
}

/** `rtl` defaults to the design's own synthesis view; pass other sources to check them against this config. */
export async function checkDesignXml(design: Design, rtl?: Record<string, string>): Promise<XmlCheck> {
  const views = generateViews(design);
  const dir = scratchDir('array-xml');
  try {
    const files = Object.entries(rtl ?? views.synth).map(([n, text]) => {
      writeFileSync(join(dir, n), text);
      return join(dir, n);
    });
    const out = join(dir, 'design.xml');
    await runTool({ tool: 'verilator', args: ['--xml-only', '--xml-output', out, '--top-module', TOP, ...files], cwd: dir, logFile: join(dir, 'xml.log') });
    const parser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '', isArray: (name) => name === 'cell' });
    const doc = parser.parse(readFileSync(out, 'utf8')) as { verilator_xml: { cells: { cell: XmlCell[] } } };
    const byHier = new Map<string, XmlCell>();
    const walk = (c: XmlCell) => {
      byHier.set(c.hier, c);
      for (const k of c.cell ?? []) walk(k);
    };
    for (const c of doc.verilator_xml.cells.cell) walk(c);
    const problems: string[] = [];
    let pesChecked = 0;
    let domainsChecked = 0;
    for (const t of design.tiles) {
      for (let r = 0; r < t.rows; r++)
        for (let c = 0; c < t.cols; c++) {
          const path = views.layout.pePath[t.index]![r]![c]!;
          const pe = byHier.get(path);
          if (!pe) {
            problems.push(`${path}: PE missing`);
            continue;
          }
          // A tagged PE holds the whole cell set; otherwise its cell in every runtime mode.
          const ids = design.tags ? design.tags.cells : t.cells.map((m) => m[r]![c]!);
          const want = [...new Set(ids.map((id) => cellInfo(id).moduleName))].sort();
          const got = (pe.cell ?? [])
            .filter((k) => k.name.startsWith('u_mul'))
            .map((k) => k.submodname)
            .sort();
          if (want.join(',') !== got.join(',')) problems.push(`${path}: instantiates [${got.join(', ')}], config says [${want.join(', ')}]`);
          pesChecked++;
        }
      for (const d of t.domains) {
        const path = `${TOP}.${names.tileInst(t)}.u_dom_${d.name}`;
        const dom = byHier.get(path);
        if (!dom) {
          problems.push(`${path}: domain instance missing`);
          continue;
        }
        const cols = (dom.cell ?? []).map((k) => k.name).sort();
        const want = d.columns.map((c) => `u_col${c}`).sort();
        if (cols.join(',') !== want.join(',')) problems.push(`${path}: holds [${cols.join(', ')}], config says [${want.join(', ')}]`);
        domainsChecked++;
      }
    }
    return { problems, pesChecked, domainsChecked };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The simulation views write the PE's weight mux in a form Verilator compiles faster than the
 * synthesis view's `sel ? w1 : w0` (see templates/array/pe.sv.hbs). Prove, per PE module, that
 * the simulation PE (without activity taps) equals the synthesis PE with Yosys' equivalence
 * checker (`equiv_make` / `equiv_simple` / `equiv_induct`).
 */
export interface PeEquivalence {
  /** PE modules proven equivalent. */
  proven: string[];
  /** One line per PE module that is not. */
  problems: string[];
}

export async function provePeViewsEquivalent(design: Design, simSources?: Record<string, string>): Promise<PeEquivalence> {
  const views = generateViews(design);
  // A tagged design's LUT-view PE reads the cells' ROMs directly (no cell instances to stand in
  // for); its gate-view PE is the same fast-mux text with the cells, so that one is proven, and
  // the LUT form is checked against gemmModel in simulation (test/array-tags).
  const sim = simSources ?? (design.tags ? views.gate : views.sim);
  const dir = scratchDir('array-pe-equiv');
  try {
    // Cells are the same module in both PEs; an injective stand-in (p = {a, b}) proves they get
    // the same operands, which is what differs between the two PE texts.
    const cells = design.cellIds.map((id) => {
      const module = cellInfo(id).moduleName;
      const f = join(dir, `${module}.sv`);
      writeFileSync(f, render('array/cell_stub.sv', { module }));
      return f;
    });
    const proven: string[] = [];
    const problems: string[] = [];
    for (const file of Object.keys(views.synth).filter((n) => /^axtpu_pe\d+\.sv$/.test(n))) {
      const mod = file.replace(/\.sv$/, '');
      const simText = sim[file];
      if (simText === undefined) {
        problems.push(`${mod}: missing from the simulation view`);
        continue;
      }
      const rename = (text: string, to: string) => text.replace(new RegExp(`\\bmodule ${mod}\\b`), `module ${to}`);
      const goldFile = join(dir, `${mod}_synth.sv`);
      const gateFile = join(dir, `${mod}_sim.sv`);
      writeFileSync(goldFile, rename(views.synth[file]!, `${mod}_synth`));
      writeFileSync(gateFile, rename(simText, `${mod}_sim`));
      const script = join(dir, `${mod}.ys`);
      writeFileSync(script, render('array/pe_equiv.ys', { gold: `${mod}_synth`, gate: `${mod}_sim`, goldFile, gateFile, cells }));
      const r = await runTool({
        tool: 'yosys',
        args: ['-q', '-s', script],
        cwd: dir,
        logFile: join(dir, `${mod}.log`),
        okExitCodes: [0, 1],
        timeoutMs: 300_000,
      });
      if (r.exitCode === 0) proven.push(mod);
      else problems.push(`${mod}: ${(r.all.match(/ERROR: .*/) ?? ['not proven'])[0]}`);
    }
    return { proven, problems };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
