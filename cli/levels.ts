import { UserError } from '../core/errors.ts';
import type { Design } from '../generators/array/config.ts';
import { designLayout } from '../generators/array/rtl.ts';
import { domainLevels } from '../mapping/units.ts';

/**
 * The one `--levels` grammar (sim gemm, run):
 *
 *   --levels <level>                      every voltage domain at that level
 *   --levels <domain>=<level>[,...]       the named domains at those levels, the rest at the first level
 *   --levels @named                       every domain at the level of its own name (explore's voltage
 *                                         winners name each domain after its supply level)
 *
 * Domains and levels go by name: a domain by its supply name (the domain's name, or
 * `<tile>_<domain>` in a multi-tile design, as in the UPF), a level by its name in the design's
 * `levels` list. The result is a level index per global voltage domain (tiles' domains
 * concatenated in tile order), the form the harness and the energy model take.
 */
export const LEVELS_HELP =
  'voltage level by name: <level> for every domain, <domain>=<level>[,...] (others at the first level), or @named (each domain at the level of its name)';

/** Supply name of every voltage domain, in global order (tiles' domains concatenated). */
export function domainNames(design: Design): string[] {
  return designLayout(design).domains.map((d) => d.supply);
}

export function parseLevels(spec: string, design: Design): number[] {
  const domains = domainNames(design);
  const levelList = () => design.levels.map((l) => `${l.name} (${l.volts} V)`).join(', ');
  const levelIndex = (name: string): number => {
    const l = design.levels.findIndex((x) => x.name === name);
    if (l < 0) throw new UserError(`--levels: no level '${name}' in design ${design.name} (levels: ${levelList()})`);
    return l;
  };
  const text = spec.trim();
  if (!text) throw new UserError(`--levels is empty (expected <level> or <domain>=<level>[,...]; levels: ${levelList()})`);
  if (text === '@named') {
    const levels = domainLevels(design);
    const missing = levels.indexOf(-1);
    if (missing >= 0)
      throw new UserError(
        `--levels @named: domain '${design.tiles.flatMap((t) => t.domains)[missing]!.name}' of design ${design.name} has no level of that name (levels: ${levelList()})`,
      );
    return levels;
  }
  if (/^[[{]/.test(text)) throw new UserError(`--levels takes <level> or <domain>=<level>[,...] by name, not JSON (e.g. --levels lo=low), got '${text}'`);
  if (!text.includes('=')) {
    if (text.includes(',')) throw new UserError(`--levels: '${text}' is a list without '='; give <domain>=<level>[,...] or one <level> for every domain`);
    const l = levelIndex(text);
    return domains.map(() => l);
  }
  const out = domains.map(() => 0);
  const seen = new Set<string>();
  for (const part of text.split(',')) {
    const m = /^\s*([^=\s]+)\s*=\s*([^=\s]+)\s*$/.exec(part);
    if (!m) throw new UserError(`--levels: '${part.trim()}' is not <domain>=<level> (in '${text}')`);
    const [, dom, level] = m as unknown as [string, string, string];
    const d = domains.indexOf(dom);
    if (d < 0) throw new UserError(`--levels: no voltage domain '${dom}' in design ${design.name} (domains: ${domains.join(', ')})`);
    if (seen.has(dom)) throw new UserError(`--levels: domain '${dom}' given twice`);
    seen.add(dom);
    out[d] = levelIndex(level);
  }
  return out;
}

/** The inverse, for reports: domain supply name -> level name. */
export function levelNames(design: Design, levels: number[]): Record<string, string> {
  return Object.fromEntries(domainNames(design).map((d, i) => [d, design.levels[levels[i] ?? 0]!.name]));
}

/**
 * Supply voltages for `vos characterize --levels`: a comma list where each entry is a voltage in
 * volts (1.8,1.6,1.4) or, for a design, one of its level names. Order kept, duplicates refused.
 */
export function parseVoltageList(spec: string, design?: Design): number[] {
  const parts = spec.split(',').map((p) => p.trim());
  if (!spec.trim() || parts.some((p) => !p))
    throw new UserError(`--levels: expected volts or level names separated by commas (e.g. 1.8,1.6,1.4), got '${spec}'`);
  const out = parts.map((p) => {
    const named = design?.levels.find((l) => l.name === p);
    if (named) return named.volts;
    const v = Number(p);
    if (!/^[0-9.eE+-]+$/.test(p) || !Number.isFinite(v))
      throw new UserError(
        `--levels: '${p}' is neither a voltage${design ? ` nor a level of design ${design.name} (${design.levels.map((l) => l.name).join(', ')})` : ''}`,
      );
    return v;
  });
  const dup = out.find((v, i) => out.indexOf(v) !== i);
  if (dup !== undefined) throw new UserError(`--levels: ${dup} V given twice`);
  return out;
}
