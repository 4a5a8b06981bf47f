/**
 * Cell selection on the command line: ids and globs (`*`, `?`) matched against the built-in
 * catalogue plus the imported `ext:` cells, so `mult verify 'ext:*'` picks a whole imported library.
 */
import { UserError } from '../../core/errors.ts';
import { builtinCatalogue, type Cell, getCell, listExternalIds } from './index.ts';

export function globToRegex(glob: string): RegExp {
  const body = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

export const isGlob = (s: string): boolean => /[*?]/.test(s);

/** Ids and globs -> cells, in the order given (a glob's matches sorted), each once. A glob matching nothing is an error. */
export function selectCells(patterns: string[], what: string): Cell[] {
  const ids: string[] = [];
  let pool: string[] | undefined;
  for (const p of patterns) {
    if (isGlob(p)) {
      pool ??= [...builtinCatalogue().map((c) => c.id), ...listExternalIds()];
      const re = globToRegex(p);
      const hit = pool.filter((id) => re.test(id)).sort();
      if (!hit.length) throw new UserError(`${what}: '${p}' matches no cell (see 'axtpu mult list')`);
      ids.push(...hit);
    } else ids.push(p);
  }
  return [...new Set(ids)].map(getCell);
}
