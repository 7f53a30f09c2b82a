import { describe, expect, it } from 'vitest';
import { formatDiagnostic, formatGithub, issuesToProblems, knownKeysAt, validateConflicts, type Diagnostic } from '../../specs/diagnostics.js';
import { checkSpecData, loadSpecText } from '../../specs/load.js';
import { CastSpecSchema } from '../../specs/schema.js';

const d = (over: Partial<Diagnostic> = {}): Diagnostic => ({
  file: 'kitchen.yaml',
  line: 12,
  column: 5,
  path: 'spec.quality',
  message: 'expected 480p, 720p, 1080p or {width, height, fps}',
  severity: 'error',
  ...over,
});

describe('formatting', () => {
  it.each([
    [d(), 'kitchen.yaml:12:5 spec.quality: expected 480p, 720p, 1080p or {width, height, fps}'],
    [d({ path: '', message: 'file not found', line: 1, column: 1 }), 'kitchen.yaml:1:1 file not found'],
    [d({ severity: 'warning', path: 'spec.device', message: 'shared' }), 'kitchen.yaml:12:5 warning: spec.device: shared'],
  ])('formatDiagnostic %#', (diag, text) => {
    expect(formatDiagnostic(diag)).toBe(text);
  });

  it.each([
    [d(), '::error file=kitchen.yaml,line=12,col=5,title=pagecast::spec.quality: expected 480p, 720p, 1080p or {width, height, fps}'],
    [
      d({ file: 'a,b:c%.yaml', message: 'one\r\ntwo 100%', severity: 'warning' }),
      '::warning file=a%2Cb%3Ac%25.yaml,line=12,col=5,title=pagecast::spec.quality: one%0D%0Atwo 100%25',
    ],
  ])('formatGithub %#', (diag, text) => {
    expect(formatGithub(diag)).toBe(text);
  });
});

describe('problems without a file (the API checks request bodies the same way)', () => {
  it('gives the same paths and messages for data', () => {
    const r = checkSpecData({ apiVersion: 'pagecast/v1', kind: 'CastSpec', metadata: { name: 'door' }, spec: { device: 'TV', url: 'https://x.example/', quality: '4k', priorty: 5 } });
    expect(r.problems).toEqual([
      { path: ['spec', 'quality'], message: 'expected 480p, 720p, 1080p or {width, height, fps}' },
      { path: ['spec', 'priorty'], message: 'unknown field "priorty" (did you mean priority?)', unknownKey: true },
    ]);
  });

  it('knows the fields allowed at a path, through unions and defaults', () => {
    expect(knownKeysAt(CastSpecSchema, ['spec', 'quality']).sort()).toEqual(['bitrateKbps', 'fps', 'height', 'width']);
    expect(knownKeysAt(CastSpecSchema, ['spec', 'schedule', 'windows', 0]).sort()).toEqual(['days', 'end', 'start']);
    expect(issuesToProblems([], undefined)).toEqual([]);
  });
});

describe('validateConflicts', () => {
  const NOW = new Date('2026-03-16T00:00:00Z');
  const spec = (name: string, body: string) => `apiVersion: pagecast/v1\nkind: CastSpec\nmetadata:\n  name: ${name}\nspec:\n  url: https://x.example/\n${body}`;
  const load = (...docs: string[]) => {
    const r = loadSpecText(docs.join('---\n'), 'tv.yaml');
    expect(r.diagnostics).toEqual([]);
    return r.specs;
  };

  it('warns on both specs when one device, equal priority and windows overlap', () => {
    const specs = load(
      spec('morning', '  device: Kitchen TV\n  schedule: { timezone: Europe/Berlin, windows: [{ days: [mon], start: "07:00", end: "12:00" }] }\n'),
      spec('noon', '  device: kitchen tv\n  schedule: { timezone: Europe/London, windows: [{ days: [mon], start: "10:30", end: "14:00" }] }\n'),
    );
    const w = validateConflicts(specs, { now: NOW });
    expect(w.map(formatDiagnostic)).toEqual([
      'tv.yaml:4:9 warning: spec.device: device "Kitchen TV" is also used by noon (tv.yaml:13:9) at the same priority 0, with overlapping windows (first at 2026-03-16T10:30Z); give one a higher priority',
      'tv.yaml:13:9 warning: spec.device: device "kitchen tv" is also used by morning (tv.yaml:4:9) at the same priority 0, with overlapping windows (first at 2026-03-16T10:30Z); give one a higher priority',
    ]);
  });

  it.each([
    ['different priority', '  device: TV\n  priority: 1\n', '  device: TV\n'],
    ['different device', '  device: { host: 127.0.0.1 }\n', '  device: { host: 127.0.0.2 }\n'],
    [
      'disjoint windows',
      '  device: TV\n  schedule: { windows: [{ days: [mon, tue], start: "07:00", end: "12:00" }] }\n',
      '  device: TV\n  schedule: { windows: [{ days: [mon, tue], start: "12:00", end: "18:00" }] }\n',
    ],
    [
      'night window ending where a morning one starts',
      '  device: TV\n  schedule: { windows: [{ days: [sun], start: "22:00", end: "07:00" }] }\n',
      '  device: TV\n  schedule: { windows: [{ days: [mon], start: "07:00", end: "09:00" }] }\n',
    ],
  ])('no warning: %s', (_n, a, b) => {
    expect(validateConflicts(load(spec('a', a), spec('b', b)), { now: NOW })).toEqual([]);
  });

  describe('a pages spec is on while its schedule says and, when every page has windows, one of them is on', () => {
    const rotation = (name: string, body: string) => `apiVersion: pagecast/v1\nkind: CastSpec\nmetadata:\n  name: ${name}\nspec:\n${body}`;
    const morningOnly = '  device: TV\n  schedule: { timezone: Europe/Berlin }\n  pages:\n    - url: https://a.example/\n      schedule: { windows: [{ start: "07:00", end: "09:00" }] }\n';
    const evening = spec('evening', '  device: TV\n  schedule: { timezone: Europe/Berlin, windows: [{ start: "17:00", end: "22:00" }] }\n');

    it('no warning: every page scheduled, the windows apart', () => {
      expect(validateConflicts(load(rotation('rot', morningOnly), evening), { now: NOW })).toEqual([]);
    });

    it('a warning where a page window meets the other spec', () => {
      const late = morningOnly.replace('"07:00", end: "09:00"', '"21:00", end: "23:00"');
      const w = validateConflicts(load(rotation('rot', late), evening), { now: NOW });
      expect(w.map((d) => d.message)).toEqual([expect.stringContaining('first at 2026-03-16T20:00Z'), expect.stringContaining('first at 2026-03-16T20:00Z')]);
    });

    it('a warning: a page without a schedule keeps the rotation on all the time', () => {
      const withDefault = morningOnly + '    - url: https://b.example/\n';
      expect(validateConflicts(load(rotation('rot', withDefault), evening), { now: NOW })).toHaveLength(2);
    });

    it('a large group compares the rotations by their windows too', () => {
      const others = ['b', 'c', 'd'].map((n) => spec(n, '  device: TV\n  schedule: { timezone: Europe/Berlin, windows: [{ start: "12:00", end: "13:00" }] }\n'));
      const w = validateConflicts(load(rotation('rot', morningOnly), ...others), { now: NOW });
      expect(w).toHaveLength(1);
      expect(w[0]!.message).toContain('shared by b and 2 others');
      expect(w[0]!.message).not.toContain('rot');
    });
  });

  it('finds an overlap that only exists while two zones disagree about DST', () => {
    // Berlin mon 07:00–08:00 and New York mon 02:00–03:00 are both 06:00–07:00 UTC only while
    // Berlin is on CET and New York on EDT: the weeks between the two zones' switch dates.
    const specs = load(
      spec('berlin', '  device: TV\n  schedule: { timezone: Europe/Berlin, windows: [{ days: [mon], start: "07:00", end: "08:00" }] }\n'),
      spec('newyork', '  device: TV\n  schedule: { timezone: America/New_York, windows: [{ days: [mon], start: "02:00", end: "03:00" }] }\n'),
    );
    const w = validateConflicts(specs, { now: new Date('2026-04-01T00:00:00Z') });
    expect(w).toHaveLength(2);
    expect(w[0]!.message).toContain('first at 2026-10-26T06:00Z'); // New York still on EDT, Berlin back on CET
    expect(validateConflicts(specs, { now: new Date('2026-11-02T00:00:00Z') })[0]?.message).toContain('first at 2027-03-15T06:00Z'); // New York switches 2027-03-14, Berlin 2027-03-28
  });
});
