// The stable hash: its text must not change between versions (generations and last good hashes
// are kept in the state directory), so it is checked against the plain definition it replaced.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stableHash, stableJson } from '../../specs/hash.js';

/** The definition: entries without undefined members, keys sorted, each part in JSON. */
function reference(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(reference).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${reference(v)}`).join(',')}}`;
}

describe('stableJson', () => {
  it('orders keys, drops undefined members, keeps undefined array slots as null', () => {
    expect(stableJson({ b: 1, a: [undefined, 'x', { d: undefined, c: null }], é: true, Z: 2 })).toBe('{"Z":2,"a":[null,"x",{"c":null}],"b":1,"é":true}');
    expect(stableJson({ b: 1, a: 2 })).toBe(stableJson({ a: 2, b: 1 }));
  });

  it('is the reference definition on any JSON-like value', () => {
    const value = fc.letrec((tie) => ({
      leaf: fc.oneof(fc.string(), fc.double(), fc.integer(), fc.boolean(), fc.constant(null), fc.constant(undefined)),
      node: fc.oneof({ depthSize: 'small' }, tie('leaf'), fc.array(tie('node'), { maxLength: 4 }), fc.dictionary(fc.string(), tie('node'), { maxKeys: 5 })),
    })).node;
    fc.assert(fc.property(value, (v) => stableJson(v) === reference(v)), { numRuns: 500 });
  });

  it('hashes a spec as earlier versions did', () => {
    const spec = { apiVersion: 'pagecast/v1', kind: 'CastSpec', metadata: { name: 'kitchen' }, spec: { device: 'Kitchen TV', url: 'https://ha.example/' } };
    expect(stableHash(spec)).toBe(stableHash(JSON.parse(reference(spec))));
    expect(stableHash(spec)).toBe('c48d558f2b39188a'); // computed with the definition above, before this implementation
  });
});
