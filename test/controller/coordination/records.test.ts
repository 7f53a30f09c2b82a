import { describe, expect, it } from 'vitest';
import { checkKeyName, OwnerRecord, parseRecord, SiteKeys, StatusRecord } from '../../../controller/coordination/records.js';

describe('site keys and records', () => {
  it('lays out one prefix per site', () => {
    const k = new SiteKeys('/pagecast/', 'north');
    expect(k.instance('box-1')).toBe('/pagecast/north/instances/box-1');
    expect(k.owner('kitchen')).toBe('/pagecast/north/owners/kitchen');
    expect(k.statusOf('kitchen')).toBe('/pagecast/north/status/kitchen');
  });

  it('reads back what pagecast wrote', () => {
    const r = parseRecord(OwnerRecord, '/k', JSON.stringify({ instance: 'box-1', since: '2026-01-01T00:00:00Z' }));
    expect(r).toEqual({ ok: true, value: { instance: 'box-1', since: '2026-01-01T00:00:00Z' } });
    expect(parseRecord(StatusRecord, '/s', JSON.stringify({ owner: 'a', at: 'now', status: { phase: 'Playing' } })).ok).toBe(true);
  });

  it('names the key and the fault in a value it did not write', () => {
    expect(parseRecord(OwnerRecord, '/pagecast/north/owners/x', 'hello')).toEqual({ ok: false, error: 'etcd key /pagecast/north/owners/x: not JSON ("hello"); pagecast did not write it' });
    const r = parseRecord(OwnerRecord, '/pagecast/north/owners/x', JSON.stringify({ instance: 7, since: 'x' }));
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error).toMatch(/^etcd key \/pagecast\/north\/owners\/x: instance: /);
    const extra = parseRecord(OwnerRecord, '/o', JSON.stringify({ instance: 'a', since: 'x', more: 1 }));
    expect(extra.ok).toBe(false);
  });

  it('refuses names that would land in another key', () => {
    expect(() => checkKeyName('spec name', 'a/b')).toThrow('spec name "a/b": expected a non-empty name without "/"');
    expect(() => checkKeyName('--site', '')).toThrow('--site ""');
    expect(() => checkKeyName('spec name', 'kitchen')).not.toThrow();
  });
});
