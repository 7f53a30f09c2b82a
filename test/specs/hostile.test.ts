// Hostile and careless spec input: every case gets a positioned error, nothing overflows, hangs
// or floods the output.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseDuration } from '../../specs/duration.js';
import { formatDiagnostic, validateConflicts } from '../../specs/diagnostics.js';
import { checkNames, loadSpecFile, loadSpecText, MAX_DIAGNOSTICS_PER_FILE, type LoadedSpec } from '../../specs/load.js';

const doc = (name: string, body: string, meta = '') => `apiVersion: pagecast/v1\nkind: CastSpec\nmetadata:\n  name: ${name}\n${meta}spec:\n  url: https://x.example/\n${body}`;
const errorsOf = (text: string) => loadSpecText(text, 'k.yaml').diagnostics.map(formatDiagnostic);

describe('the schema says no to what cannot work', () => {
  it.each([
    ['a reload past a week', '  device: TV\n  browser: { reload: 30d }\n', 'k.yaml:8:22 spec.browser.reload: expected at most 7d, got "30d"'],
    ['a backoff past a day', '  device: TV\n  policy: { backoff: { max: 40d } }\n', 'k.yaml:8:29 spec.policy.backoff.max: expected at most 1d, got "40d"'],
    ['a restart window past 30 days', '  device: TV\n  policy: { maxRestarts: { window: 90d } }\n', 'k.yaml:8:36 spec.policy.maxRestarts.window: expected at most 30d, got "90d"'],
    ['a navigation timeout past 10 minutes', '  device: TV\n  browser: { navigationTimeout: 2h }\n', 'k.yaml:8:33 spec.browser.navigationTimeout: expected at most 10m, got "2h"'],
    ['a number too large to wait for', `  device: TV\n  browser: { reload: ${'9'.repeat(400)}d }\n`, /spec\.browser\.reload: expected a duration like 2s, 5m or 1h, got "9{10}/],
    ['CR LF in a header value', '  device: TV\n  browser: { headers: { X-A: "a\\r\\nSet-Cookie: x" } }\n', 'k.yaml:8:30 spec.browser.headers.X-A: a header value must not contain CR, LF or NUL'],
    ['NUL in a header value', '  device: TV\n  browser: { headers: { X-A: "a\\0b" } }\n', 'k.yaml:8:30 spec.browser.headers.X-A: a header value must not contain CR, LF or NUL'],
    ['a header name with a space', '  device: TV\n  browser: { headers: { "X A": b } }\n', /spec\.browser\.headers\.X A: expected an HTTP header name/],
    ['an escape in a device name', '  device: "TV\\e[2J"\n', /spec\.device: a device name must not contain control characters/],
    ['a newline in a title', '  device: TV\n  title: "a\\nb"\n', /spec\.title: title must not contain control characters/],
  ])('%s', (_what, body, expected) => {
    const errs = errorsOf(doc('k', body));
    if (typeof expected === 'string') expect(errs).toEqual([expected]);
    else expect(errs.join('\n')).toMatch(expected);
  });

  it.each([
    ['a key with a space', '  labels: { "my site": home }\n', /metadata\.labels\.my site: expected a label key/],
    ['a key of 64 characters', `  labels: { ${'a'.repeat(64)}: x }\n`, /expected a label key/],
    ['a bad prefix', '  labels: { "Example.COM/site": x }\n', /expected a label key/],
    ['a value ending in a dash', '  labels: { site: home- }\n', /metadata\.labels\.site: expected a label value/],
    ['a value of 64 characters', `  labels: { site: ${'a'.repeat(64)} }\n`, /expected a label value/],
  ])('label syntax as Kubernetes has it: %s', (_what, meta, expected) => {
    expect(errorsOf(doc('k', '  device: TV\n', meta)).join('\n')).toMatch(expected);
  });

  it('accepts labels Kubernetes accepts', () => {
    expect(errorsOf(doc('k', '  device: TV\n', '  labels: { example.com/site: home, tier: "", app.kubernetes.io/name: pagecast }\n'))).toEqual([]);
  });

  it('parseDuration refuses what is not a finite number of milliseconds', () => {
    expect(parseDuration(`${'9'.repeat(400)}d`)).toBeUndefined();
    expect(parseDuration('1.5h')).toBe(5_400_000);
  });
});

describe('loading does not overflow, and says what is wrong with the file', () => {
  it.each([
    ['flow nesting 100,000 deep', 'apiVersion: pagecast/v1\nkind: CastSpec\nspec:\n  device: ' + '['.repeat(100_000) + '\n', 'k.yaml:4:73 nested deeper than 64 levels; a spec needs a handful'],
    ['flow maps 100,000 deep', '{a: '.repeat(100_000), 'k.yaml:1:253 nested deeper than 64 levels; a spec needs a handful'],
    ['block nesting 200 deep', 'a:\n' + Array.from({ length: 200 }, (_, i) => ' '.repeat(i + 1) + 'k:').join('\n') + '\n', 'k.yaml:65:65 nested deeper than 64 levels; a spec needs a handful'],
  ])('%s: one positioned error', (_what, text, expected) => {
    expect(errorsOf(text)).toEqual([expected]);
  });

  it('brackets inside quotes and comments do not count as nesting', () => {
    const r = loadSpecText(doc('k', `  device: "${'['.repeat(100)}" # ${'{'.repeat(100)}\n`), 'k.yaml');
    expect(r.diagnostics).toEqual([]);
    expect(r.specs).toHaveLength(1);
  });

  it('a file with many problems lists the first ones and counts the rest', () => {
    const text = Array.from({ length: 300 }, (_, i) => doc(`s${i}`, '  device: TV\n  qualty: 720p\n')).join('---\n');
    const d = loadSpecText(text, 'k.yaml').diagnostics;
    expect(d).toHaveLength(MAX_DIAGNOSTICS_PER_FILE + 1);
    expect(d.at(-1)!.message).toBe('250 more problems in this file not shown');
  });

  describe('encodings', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pc-enc-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    const file = (name: string, bytes: Buffer) => {
      writeFileSync(join(dir, name), bytes);
      return join(dir, name);
    };
    it.each([
      ['UTF-16 LE with a BOM', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(doc('k', '  device: TV\n'), 'utf16le')]), ':1:1 not UTF-8: the file starts with a UTF-16 byte order mark; save it as UTF-8'],
      ['UTF-16 BE with a BOM', Buffer.from([0xfe, 0xff, 0, 0x61]), ':1:1 not UTF-8: the file starts with a UTF-16 byte order mark; save it as UTF-8'],
      ['UTF-16 without a BOM', Buffer.from(doc('k', '  device: TV\n'), 'utf16le'), ':1:2 not UTF-8 text: it contains a NUL byte (UTF-16 without a byte order mark?)'],
      ['Latin-1 on line 7', Buffer.from(doc('k', '  device: K\u00fcche\n'), 'latin1'), ':7:12 not UTF-8: invalid byte sequence (save the file as UTF-8)'],
    ])('%s', async (name, bytes, expected) => {
      const path = file(`${name.replace(/\W/g, '')}.yaml`, bytes);
      expect((await loadSpecFile(path)).diagnostics.map(formatDiagnostic)).toEqual([`${path}${expected}`]);
    });
  });
});

describe('cross-spec checks report a large group once', () => {
  const many = (n: number, body: (i: number) => string, name = (i: number) => `k${i}`): LoadedSpec[] => {
    const specs: LoadedSpec[] = [];
    for (let i = 0; i < n; i++) {
      const r = loadSpecText(doc(name(i), body(i)), `f${i}.yaml`);
      for (const s of r.specs) specs.push(s);
    }
    return specs;
  };

  it('3,000 specs on one device: one warning, naming the count and a few places', () => {
    const specs = many(3000, () => '  device: Kitchen TV\n');
    const t0 = performance.now();
    const w = validateConflicts(specs);
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(w.map(formatDiagnostic)).toEqual([
      expect.stringMatching(/^f0\.yaml:4:9 warning: spec\.device: device "Kitchen TV" is shared by k0 and 2,999 others at the same priority 0, with overlapping windows \(first at .*\): k1 \(f1\.yaml:4:9\), k2 \(f2\.yaml:4:9\), k3 \(f3\.yaml:4:9\) and 2,996 more; give them different priorities$/),
    ]);
  });

  it('a large group with disjoint windows warns about none of them', () => {
    const specs = many(40, (i) => `  device: TV\n  schedule: { windows: [{ days: [mon], start: "${String(i % 24).padStart(2, '0')}:00", end: "${String(i % 24).padStart(2, '0')}:30" }] }\n`);
    // 24 distinct half hours: specs 24..39 repeat 0..15, so those pairs overlap and the rest do not.
    const w = validateConflicts(specs, { now: new Date('2026-03-16T00:00:00Z') });
    expect(w).toHaveLength(1);
    expect(w[0]!.message).toMatch(/shared by k0 and 31 others/);
  });

  it('10,000 specs with one name: one error per group, bounded', () => {
    const specs = many(10_000, () => '  device: TV\n', () => 'same');
    const d = checkNames(specs);
    expect(d).toHaveLength(1);
    expect(formatDiagnostic(d[0]!)).toBe('f0.yaml:4:9 metadata.name: name same is used by 10,000 specs: here and at f1.yaml:4:9, f2.yaml:4:9, f3.yaml:4:9 and 9,996 more');
  });
});

describe('nothing reaches a terminal raw', () => {
  it('a diagnostic escapes control characters from the file (keys, values, names)', () => {
    const text = doc('k', '  device: TV\n  "\\e[2J\\e[H\\u202efake": 1\n  title: "ok\\rforged line"\n');
    const lines = loadSpecText(text, 'k\u001b[31m.yaml').diagnostics.map(formatDiagnostic);
    expect(lines.length).toBeGreaterThan(0);
    for (const l of lines) expect(l).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202e]/);
    expect(lines.join('\n')).toContain('\\x1b[2J\\x1b[H\\u202efake');
    expect(lines.join('\n')).toContain('k\\x1b[31m.yaml');
  });

  it('escapeControl keeps tabs and, unless asked for one line, newlines', async () => {
    const { escapeControl } = await import('../../specs/escape.js');
    expect(escapeControl('a\tb\nc\u0007\u009b\u2066')).toBe('a\tb\nc\\x07\\x9b\\u2066');
    expect(escapeControl('a\nb\r', { oneLine: true })).toBe('a\\nb\\x0d');
  });
});
