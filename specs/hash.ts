// One stable hash for specs and their parts: equal values hash equal whatever their key order.
import { createHash } from 'node:crypto';

/** JSON with object keys sorted and undefined members dropped. */
export function stableJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  // Built by concatenation: it runs for every spec on every load, and entries/filter/map/join
  // arrays were a fifth of what a cold start of 1,000 specs allocated outside XState and YAML.
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += (i ? ',' : '') + stableJson(value[i]);
    return out + ']';
  }
  const record = value as Record<string, unknown>;
  // The default sort orders by UTF-16 code units, as `a < b` does.
  const keys = Object.keys(record).sort();
  let out = '{';
  let first = true;
  for (const k of keys) {
    const v = record[k];
    if (v === undefined) continue;
    out += (first ? '' : ',') + JSON.stringify(k) + ':' + stableJson(v);
    first = false;
  }
  return out + '}';
}

export function stableHash(value: unknown, length = 16): string {
  return createHash('sha256').update(stableJson(value)).digest('hex').slice(0, length);
}
