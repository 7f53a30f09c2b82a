// Property tests of the spec loader: whatever the bytes, it answers with specs or positioned
// diagnostics, never a throw, never a position outside the file. Bounded to a few seconds.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { decodeUtf8, loadSpecText } from '../../specs/load.js';
import { formatDiagnostic } from '../../specs/diagnostics.js';

const VALID = `apiVersion: pagecast/v1
kind: CastSpec
metadata:
  name: kitchen
  labels: { site: home }
spec:
  device: Kitchen TV
  url: https://ha.example/lovelace/kitchen
  quality: { width: 1280, height: 720, fps: 30 }
  browser: { zoom: 1.25, headers: { X-A: b }, waitFor: { selector: home-assistant } }
  policy: { backoff: { initial: 2s, max: 5m } }
  schedule: { timezone: Europe/Berlin, windows: [{ days: [mon, fri], start: "07:00", end: "18:00" }] }
`;

function holdsForText(text: string): void {
  const r = loadSpecText(text, 'f.yaml');
  const lines = text.split('\n').length;
  for (const d of r.diagnostics) {
    expect(d.line).toBeGreaterThanOrEqual(1);
    expect(d.line).toBeLessThanOrEqual(lines + 1);
    expect(d.column).toBeGreaterThanOrEqual(1);
    expect(formatDiagnostic(d)).not.toMatch(/[\u0000-\u001f]/);
  }
  for (const s of r.specs) expect(s.spec.metadata.name).toMatch(/^[a-z0-9-]+$/);
}

describe('the spec loader, on any input', () => {
  it('arbitrary text: positioned diagnostics, no throw', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 400 }), holdsForText), { numRuns: 400 });
  });

  it('a valid spec cut, spliced or with bytes replaced: no throw, positions inside the file', () => {
    const edit = fc.record({ at: fc.nat(VALID.length), cut: fc.nat(40), insert: fc.string({ unit: 'grapheme-ascii', maxLength: 12 }) });
    fc.assert(
      fc.property(edit, ({ at, cut, insert }) => holdsForText(VALID.slice(0, at) + insert + VALID.slice(at + cut))),
      { numRuns: 600 },
    );
  });

  it('any JSON value as the document, or in any field: no throw, invalid fields named', () => {
    const field = fc.constantFrom('device', 'url', 'quality', 'browser', 'policy', 'schedule', 'priority', 'mode', 'title', 'hwAccel');
    fc.assert(
      fc.property(field, fc.jsonValue({ maxDepth: 4 }), (f, value) => {
        const doc = { apiVersion: 'pagecast/v1', kind: 'CastSpec', metadata: { name: 'k' }, spec: { device: 'TV', url: 'https://a.example/', [f]: value } };
        holdsForText(stringify(doc));
        holdsForText(stringify(value));
      }),
      { numRuns: 400 },
    );
  });

  it('arbitrary bytes: decoded as UTF-8 or refused with a position, never a throw', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const r = decodeUtf8(bytes);
        if ('text' in r) expect(r.text).not.toContain('\u0000');
        else {
          expect(r.line).toBeGreaterThanOrEqual(1);
          expect(r.column).toBeGreaterThanOrEqual(1);
        }
      }),
      { numRuns: 500 },
    );
  });
});
