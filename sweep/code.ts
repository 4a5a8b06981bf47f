import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../core/paths.ts';

/**
 * Fingerprint of the code a job's result depends on: every source and template file (sha256 of
 * their paths and contents). Part of a sweep job's id, so results of other code are never reused,
 * and checked by workers, so every host must run the same code (docs/sweep.md).
 */
const FOLDERS = ['core', 'generators', 'synth', 'nn', 'mapping', 'sim', 'flow', 'explore', 'sweep', 'templates'];

let memo: string | undefined;

export function codeHash(): string {
  if (memo) return memo;
  const h = createHash('sha256');
  for (const folder of FOLDERS) {
    const files = readdirSync(join(repoRoot, folder), { recursive: true, encoding: 'utf8' })
      .filter((f) => /\.(ts|mjs|hbs|cpp|json)$/.test(f))
      .sort();
    for (const f of files)
      h.update(`${folder}/${f}\0`)
        .update(readFileSync(join(repoRoot, folder, f)))
        .update('\0');
  }
  memo = h.digest('hex').slice(0, 16);
  return memo;
}
