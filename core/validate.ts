import { existsSync, readFileSync, statSync } from 'node:fs';
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
  const where = issue?.path.length ? ` ${issue.path.join('.')}` : '';
  // Zod's bare 'Invalid' (a failed regex) says nothing: show the value that failed instead.
  let value: unknown = data;
  for (const k of issue?.path ?? []) value = value && typeof value === 'object' ? (value as Record<string | number, unknown>)[k] : undefined;
  const shown = typeof value === 'string' || typeof value === 'number' ? ` '${String(value).slice(0, 60)}'` : '';
  const why = !issue?.message || issue.message === 'Invalid' ? 'has characters or a form that is not allowed' : issue.message;
  throw new UserError(`${source}: invalid${where}${issue?.code === 'invalid_string' ? shown : ''}: ${why}`);
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

/** A comma-separated list of numbers (`0.25,0.5`), each finite; ranges are the caller's. */
export function numberListOption(value: string, name: string): number[] {
  const parts = value.split(',').map((p) => p.trim());
  if (!value.trim() || parts.some((p) => !p || !Number.isFinite(Number(p))))
    throw new UserError(`${name}: expected numbers separated by commas (e.g. 0.25,0.5), got '${value}'`);
  return parts.map(Number);
}

/** Inline JSON (starts with { or [) or a path to a JSON file. */
export function jsonArg(value: string, flag: string): unknown {
  const text = value.trim();
  let src = text;
  if (!text.startsWith('{') && !text.startsWith('[')) {
    if (!existsSync(text)) throw new UserError(`${flag}: not inline JSON and no such file: ${text}`);
    if (!statSync(text).isFile()) throw new UserError(`${flag}: ${text} is not a file`);
    src = readFileSync(text, 'utf8');
  }
  try {
    return JSON.parse(src);
  } catch (err) {
    throw new UserError(`${flag}: not valid JSON (${(err as Error).message.split('\n')[0]})`);
  }
}

export { z };
