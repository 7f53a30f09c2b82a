// One stable hash for specs and their parts: equal values hash equal whatever their key order.
import { createHash } from 'node:crypto';

/** JSON with object keys sorted and undefined members dropped. */
export function stableJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
}

export function stableHash(value: unknown, length = 16): string {
  return createHash('sha256').update(stableJson(value)).digest('hex').slice(0, length);
}
