import { createHash } from 'node:crypto';

/** Stable JSON: object keys sorted, so equal values hash equally. */
export function stableStringify(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'undefined';
  if (ArrayBuffer.isView(value)) {
    const v = value as unknown as ArrayBufferView;
    return `bytes:${createHash('sha256')
      .update(new Uint8Array(v.buffer, v.byteOffset, v.byteLength))
      .digest('hex')}`;
  }
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
  const obj = value as Record<string, unknown>;
  return `{${Object.keys(obj)
    .sort()
    .filter((k) => obj[k] !== undefined)
    .map((k) => `${JSON.stringify(k)}:${stableStringify(obj[k])}`)
    .join(',')}}`;
}

/** sha256 hex of any JSON-like value (typed arrays hashed by content). */
export function contentHash(value: unknown): string {
  return createHash('sha256').update(stableStringify(value)).digest('hex');
}

/** Short form used in directory names. */
export function shortHash(value: unknown, len = 16): string {
  return contentHash(value).slice(0, len);
}
