import { writeFileSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import { runTool } from '../../core/runner.ts';
import { scratchDir } from '../../core/atomic.ts';
import type { Design } from './config.ts';
import { generateViews, names, TOP } from './rtl.ts';
import { cellInfo } from './cells.ts';

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
          const want = [...new Set(t.cells.map((m) => cellInfo(m[r]![c]!).moduleName))].sort();
          const got = (pe.cell ?? []).filter((k) => k.name.startsWith('u_mul')).map((k) => k.submodname).sort();
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
