import { existsSync, readFileSync } from 'node:fs';
import { type ZodTypeAny, z } from 'zod';
import { UserError } from './errors.ts';

/**
 * Validate user-supplied data; a failure becomes a one-line UserError naming the source,
 * the path of the first bad field and what was wrong.
 */
export function parseOrThrow<S extends ZodTypeAny>(schema: S, data: unknown, source: string): z.infer<S> {
  const r = schema.safeParse(data);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const where = issue?.path.length ? ` at ${issue.path.join('.')}` : '';
  throw new UserError(`${source}: invalid${where}: ${issue?.message ?? 'bad value'}`);
}

/** Read and validate a JSON file given by the user. */
export function readJsonFile<S extends ZodTypeAny>(schema: S, path: string, what = 'file'): z.infer<S> {
  if (!existsSync(path)) throw new UserError(`${what} not found: ${path}`);
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new UserError(`${what} ${path}: not valid JSON (${(err as Error).message.split('\n')[0]})`);
  }
  return parseOrThrow(schema, data, `${what} ${path}`);
}

/** Parse a CLI integer option within bounds. */
export function intOption(value: string, name: string, min: number, max: number): number {
  if (!/^-?\d+$/.test(value.trim())) throw new UserError(`${name} must be an integer, got '${value}'`);
  const n = Number(value);
  if (n < min || n > max) throw new UserError(`${name} must be in ${min}..${max}, got ${n}`);
  return n;
}

/** Parse a CLI number option within bounds. */
export function numberOption(value: string, name: string, min: number, max: number): number {
  const n = Number(value);
  if (!Number.isFinite(n) || value.trim() === '') throw new UserError(`${name} must be a number, got '${value}'`);
  if (n < min || n > max) throw new UserError(`${name} must be in ${min}..${max}, got ${n}`);
  return n;
}

export { z };
