import { UserError } from '../core/errors.ts';
import { builtinCatalogue, type Cell, getCell, listExternalIds } from '../generators/multipliers/index.ts';
import { globToRegex } from '../generators/multipliers/select.ts';

/**
 * Candidate cells from a comma-separated list of ids and globs (`*`, `?`) matched against the
 * built-in catalogue plus imported `ext:` cells. Only 8-bit cells can run in the DNN engine.
 * The exact cell of each signedness is always added (it is the baseline and the fallback).
 */
export const DEFAULT_CELLS = 'drum_*_u8,bam_*_u8,trunc_*_u8,mitchell_w*_u8';

export interface CandidateGroup {
  signed: boolean;
  exact: string;
  /** Approximate candidates (exact excluded), by id. */
  cells: string[];
}

export function expandCells(spec: string): Cell[] {
  const parts = spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (parts.length === 0) throw new UserError('--cells: empty candidate list');
  const pool = [...builtinCatalogue().map((c) => c.id), ...safeExternal()];
  const ids = new Set<string>();
  for (const p of parts) {
    if (/[*?]/.test(p)) {
      const re = globToRegex(p);
      const hit = pool.filter((id) => re.test(id));
      for (const id of hit) ids.add(id);
    } else {
      getCell(p); // unknown id -> one-line UserError
      ids.add(p);
    }
  }
  const cells = [...ids]
    .sort()
    .map((id) => getCell(id))
    .filter((c) => c.bits === 8);
  if (cells.length === 0) throw new UserError(`--cells '${spec}' matches no 8-bit cell (see 'axtpu mult list')`);
  return cells;
}

function safeExternal(): string[] {
  try {
    return listExternalIds();
  } catch {
    return [];
  }
}

const isExact = (c: Cell) => c.family === 'exact' || c.family === 'booth';

/**
 * Split by signedness (one quantization scheme per search); each group gets its exact baseline.
 * `exactOnly`: a group of exact cells alone is a search too (the voltage knob lowers their supply).
 */
export function groupCandidates(cells: Cell[], o: { exactOnly?: boolean } = {}): CandidateGroup[] {
  const groups: CandidateGroup[] = [];
  for (const signed of [false, true]) {
    const mine = cells.filter((c) => c.signed === signed && !isExact(c));
    if (mine.length === 0 && !(o.exactOnly && cells.some((c) => c.signed === signed))) continue;
    groups.push({ signed, exact: signed ? 'exact_s8' : 'exact_u8', cells: mine.map((c) => c.id) });
  }
  if (groups.length === 0) throw new UserError('--cells: no approximate 8-bit cell among the candidates (only exact cells matched)');
  return groups;
}
