import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EphemeralCasts, MAX_CAST_MS } from '../../../controller/sources/ephemeral-casts.js';
import { StateDir } from '../../../controller/sources/state-dir.js';
import { silentLogger } from '../../../machines/log.js';

const NOW = Date.parse('2026-12-01T00:00:00Z');

describe('ephemeral casts', () => {
  let dir: string;
  let state: StateDir;
  let casts: EphemeralCasts;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pc-casts-'));
    state = new StateDir({ dir, log: silentLogger() });
    await state.open();
    casts = new EphemeralCasts({ state, log: silentLogger() });
  });
  afterEach(async () => {
    await state.flush();
    rmSync(dir, { recursive: true, force: true });
  });
  const none = () => undefined;

  it.each([
    ['past a year', { duration: '400d' }, 'body.duration: expected at most 365d (leave it out for a cast that lasts until it is ended)'],
    ['a number of days past any date', { duration: `${'9'.repeat(15)}d` }, 'body.duration: expected a duration like 30s, 10m or 1h'],
    ['not a duration', { duration: 'soon' }, 'body.duration: expected a duration like 30s, 10m or 1h'],
  ])('a duration %s is refused naming the field', async (_what, extra, message) => {
    await expect(casts.create({ device: 'TV', url: 'https://a.example/', ...extra }, NOW, none)).rejects.toMatchObject({ code: 'SPEC_INVALID', message });
    expect(casts.specs.size).toBe(0);
  });

  it('a cast of 30 days expires in 30 days', async () => {
    const r = await casts.create({ device: 'TV', url: 'https://a.example/', duration: '30d', name: 'long' }, NOW, none);
    expect(r.expiresAt).toBe('2026-12-31T00:00:00.000Z');
    expect(casts.specs.get('long')!.expiresAt).toBe(NOW + 30 * 86_400_000);
    expect(casts.expire(NOW + 30 * 86_400_000 - 1)).toEqual([]);
    expect(casts.expire(NOW + 30 * 86_400_000)).toEqual(['long']);
    expect(MAX_CAST_MS).toBe(365 * 86_400_000);
  });

  it('a stored cast whose expiry is not a time is dropped, with an error naming it', async () => {
    await expect(casts.admit({ name: 'bad', request: { device: 'TV', url: 'https://a.example/' }, createdAt: 'x', expiresAt: 'not-a-date' }, NOW)).rejects.toMatchObject({
      code: 'STATE_CORRUPT',
      message: 'stored cast bad: expiresAt "not-a-date" is not a time; the cast is dropped',
    });
    expect(casts.specs.has('bad')).toBe(false);
  });

  it('a name a spec file already uses is refused', async () => {
    await expect(casts.create({ device: 'TV', url: 'https://a.example/', name: 'kitchen' }, NOW, (n) => (n === 'kitchen' ? 'k.yaml' : undefined))).rejects.toMatchObject({
      message: 'body.name: kitchen is already a spec from k.yaml',
    });
  });
});
