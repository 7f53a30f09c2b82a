import { describe, expect, it } from 'vitest';
import { deviceKeyOf, diffSpecs, FIELD_COSTS, streamInputOf, streamKeyOf } from '../../specs/identity.js';
import { CastSpecBody, CastSpecSchema, type CastSpec } from '../../specs/schema.js';

const mk = (name: string, spec: Record<string, unknown> = {}): CastSpec =>
  CastSpecSchema.parse({ apiVersion: 'pagecast/v1', kind: 'CastSpec', metadata: { name }, spec: { device: 'TV', url: 'https://a.example/', ...spec } });

describe('spec identity', () => {
  it('what a change costs comes from the schema: every field says it, once', () => {
    expect([...FIELD_COSTS.keys()].sort()).toEqual(Object.keys(CastSpecBody.shape).sort());
    expect(Object.fromEntries(FIELD_COSTS)).toMatchObject({ device: 'cast', title: 'cast', url: 'stream', quality: 'stream', browser: 'stream', policy: 'live', schedule: 'live' });
    // The stream input is exactly the render fields (urlFrom is read into url).
    const renderFields = [...FIELD_COSTS].filter(([, c]) => c === 'stream').map(([f]) => f).filter((f) => f !== 'urlFrom');
    expect(Object.keys(streamInputOf(mk('a'))).sort()).toEqual(renderFields.sort());
  });

  it('specs with identical render input share a stream key; any render difference splits it', () => {
    expect(streamKeyOf(mk('a', { device: 'TV 1' }))).toBe(streamKeyOf(mk('b', { device: 'TV 2', priority: 4 })));
    expect(streamKeyOf(mk('a'))).not.toBe(streamKeyOf(mk('a', { mode: 'fmp4' })));
    expect(streamKeyOf(mk('a'))).not.toBe(streamKeyOf(mk('a', { hwAccel: 'off' })));
    expect(streamKeyOf(mk('a'))).not.toBe(streamKeyOf(mk('a', { browser: { css: 'body{}' } })));
  });

  it('device keys: names are case-insensitive; addresses include the port', () => {
    expect(deviceKeyOf('Kitchen TV')).toBe(deviceKeyOf(' kitchen tv'));
    expect(deviceKeyOf({ host: '10.0.0.2', port: 8009 })).not.toBe(deviceKeyOf({ host: '10.0.0.2', port: 8010 }));
    expect(deviceKeyOf({ id: 'ABCDEF0123456789ABCDEF0123456789' })).toBe(deviceKeyOf({ id: 'abcdef0123456789abcdef0123456789' }));
  });

  it('a device name that only changes case is not a re-cast', () => {
    expect(diffSpecs(mk('a', { device: 'Kitchen TV' }), mk('a', { device: 'kitchen tv' }))).toEqual({ stream: false, cast: false, live: true });
  });

  it('a change to render and device fields costs both', () => {
    expect(diffSpecs(mk('a'), mk('a', { device: 'Other', quality: '480p' }))).toEqual({ stream: true, cast: true, live: false });
  });
});
