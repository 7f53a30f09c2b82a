import { describe, expect, it } from 'vitest';
import { loadSpecText } from '../../specs/load.js';
import { formatDiagnostic } from '../../specs/diagnostics.js';

// Five header lines, so the body starts on line 6 and positions below are easy to check.
const HEAD = 'apiVersion: pagecast/v1\nkind: CastSpec\nmetadata:\n  name: kitchen\nspec:\n';
const doc = (...body: string[]) => HEAD + body.map((l) => `  ${l}\n`).join('');
const errors = (text: string, file = 'kitchen.yaml') => loadSpecText(text, file).diagnostics.map(formatDiagnostic);

describe('valid specs', () => {
  it('applies defaults and records where the spec is', () => {
    const r = loadSpecText(doc('device: Kitchen TV', 'url: https://ha.example/lovelace/kitchen'), 'kitchen.yaml');
    expect(r.diagnostics).toEqual([]);
    expect(r.specs).toHaveLength(1);
    const s = r.specs[0]!;
    expect([s.file, s.line, s.column, s.docIndex]).toEqual(['kitchen.yaml', 4, 9, 0]);
    expect(s.spec.spec.quality).toEqual({ width: 1280, height: 720, fps: 30, bitrateKbps: 3000 });
    expect(s.spec.spec.policy.backoff).toEqual({ initial: 2000, max: 300_000 });
    expect(s.spec.spec.hwAccel).toBe('auto');
    expect(s.hash).toMatch(/^[0-9a-f]{16}$/);
  });

  it.each([
    ['custom quality', ['device: TV', 'url: https://x.example/', 'quality: { width: 1024, height: 576, fps: 25 }']],
    ['device by address', ['device: { host: 127.0.0.1 }', 'url: http://127.0.0.1:8090/']],
    ['device by id', ['device: { id: 0123456789abcdef0123456789ABCDEF }', 'url: https://x.example/']],
    ['urlFrom env', ['device: TV', 'urlFrom: { env: HA_URL }']],
    ['urlFrom file', ['device: TV', 'urlFrom: { file: secrets/url.txt }']],
    ['waitFor delay and 24:00', ['device: TV', 'url: https://x.example/', 'browser: { waitFor: { delay: 1500ms } }', 'schedule: { windows: [{ start: "20:00", end: "24:00" }] }']],
    ['zone and unquoted clock times (YAML 1.2 strings)', ['device: TV', 'url: https://x.example/', 'schedule:', '  timezone: America/New_York', '  windows:', '    - days: [fri]', '      start: 22:00', '      end: 06:00']],
  ])('%s', (_name, body) => {
    const r = loadSpecText(doc(...body), 'k.yaml');
    expect(r.diagnostics.map(formatDiagnostic)).toEqual([]);
    expect(r.specs).toHaveLength(1);
  });

  it('hashes normalised specs: key order and spelled-out defaults do not matter', () => {
    const a = loadSpecText(doc('device: TV', 'url: https://x.example/'), 'a.yaml').specs[0]!;
    const b = loadSpecText(doc('url: https://x.example/', 'quality: 720p', 'hwAccel: auto', 'device: TV'), 'b.yaml').specs[0]!;
    const c = loadSpecText(doc('device: TV', 'url: https://x.example/', 'quality: 1080p'), 'c.yaml').specs[0]!;
    expect(a.hash).toBe(b.hash);
    expect(a.hash).not.toBe(c.hash);
  });
});

describe('invalid specs: file:line:col path: message', () => {
  it.each([
    ['typo in a field name', doc('device: TV', 'url: https://x.example/', 'qualty: 720p'), ['kitchen.yaml:8:3 spec.qualty: unknown field "qualty" (did you mean quality?)']],
    ['typo in a nested field', doc('device: TV', 'url: https://x.example/', 'policy:', '  backof: { initial: 2s }'), ['kitchen.yaml:9:5 spec.policy.backof: unknown field "backof" (did you mean backoff?)']],
    ['unknown top-level field', HEAD.replace('kind', 'knd') + '  device: TV\n  url: https://x.example/\n', ['kitchen.yaml:1:1 kind: missing, expected kind: CastSpec', 'kitchen.yaml:2:1 knd: unknown field "knd" (did you mean kind?)']],
    ['wrong quality', doc('device: TV', 'url: https://x.example/', 'quality: 4k'), ['kitchen.yaml:8:12 spec.quality: expected 480p, 720p, 1080p or {width, height, fps}']],
    ['quality object: the bad field, not the preset list', doc('device: TV', 'url: https://x.example/', 'quality: { width: 1000, height: 701, fps: 30 }'), ['kitchen.yaml:8:35 spec.quality.height: height must be even (H.264 4:2:0)']],
    ['quality object too wide', doc('device: TV', 'url: https://x.example/', 'quality:', '  width: 3840', '  height: 1080', '  fps: 30'), ["kitchen.yaml:9:12 spec.quality.width: width must be at most 1920 (the Default Media Receiver's limit)"]],
    ['quality object field typo', doc('device: TV', 'url: https://x.example/', 'quality: { width: 1280, heigth: 720, fps: 30 }'), ['kitchen.yaml:8:12 spec.quality.height: missing, expected a whole number of pixels for height', 'kitchen.yaml:8:27 spec.quality.heigth: unknown field "heigth" (did you mean height?)']],
    ['bad duration', doc('device: TV', 'url: https://x.example/', 'policy:', '  backoff: { initial: 2 sec }'), ['kitchen.yaml:9:25 spec.policy.backoff.initial: expected a duration like 2s, 5m or 1h, got "2 sec"']],
    ['backoff max below initial', doc('device: TV', 'url: https://x.example/', 'policy: { backoff: { initial: 10m, max: 1m } }'), ['kitchen.yaml:8:22 spec.policy.backoff: backoff.max must not be below backoff.initial']],
    ['bad timezone', doc('device: TV', 'url: https://x.example/', 'schedule:', '  timezone: Europe/Berlim', '  windows: [{ start: "07:00", end: "18:00" }]'), ['kitchen.yaml:9:15 spec.schedule.timezone: expected an IANA time zone like Europe/Berlin, got "Europe/Berlim"']],
    ['bad day and clock', doc('device: TV', 'url: https://x.example/', 'schedule:', '  windows:', '    - { days: [mon, funday], start: 7am, end: "18:00" }'), ['kitchen.yaml:10:23 spec.schedule.windows[0].days[1]: expected mon, tue, wed, thu, fri, sat or sun, got "funday"', 'kitchen.yaml:10:39 spec.schedule.windows[0].start: expected a time like 07:00 (24-hour), got "7am"']],
    ['24:00 is an end, not a start', doc('device: TV', 'url: https://x.example/', 'schedule: { windows: [{ start: "24:00", end: "06:00" }] }'), ['kitchen.yaml:8:34 spec.schedule.windows[0].start: expected a time like 07:00 (24-hour), got "24:00"']],
    ['url and urlFrom both', doc('device: TV', 'url: https://x.example/', 'urlFrom: { env: HA_URL }'), ['kitchen.yaml:8:12 spec.urlFrom: give url, urlFrom or pages, not more than one']],
    ['url, urlFrom and pages, none', doc('device: TV', 'quality: 720p'), ['kitchen.yaml:5:1 spec.url: expected url, urlFrom or pages']],
    ['urlFrom mixing env and file', doc('device: TV', 'urlFrom: { env: HA_URL, file: url.txt }'), ['kitchen.yaml:7:27 spec.urlFrom.file: field "file" does not go with the others here: expected {env: NAME} or {file: path}']],
    ['url scheme (value not echoed)', doc('device: TV', 'url: ftp://user:secret@x.example/'), ['kitchen.yaml:7:8 spec.url: expected an http, https or file URL']],
    ['missing device', doc('url: https://x.example/'), ['kitchen.yaml:5:1 spec.device: missing, expected a device name, {host, port} or {id}']],
    ['empty device', doc('device:', 'url: https://x.example/'), ['kitchen.yaml:6:3 spec.device: expected a device name, {host, port} or {id}']],
    ['device address typo', doc('device: { host: 10.0.0.2, prot: 8009 }', 'url: https://x.example/'), ['kitchen.yaml:6:29 spec.device.prot: unknown field "prot" (did you mean port?)']],
    ['bad enum', doc('device: TV', 'url: https://x.example/', 'hwAccel: cuda'), ['kitchen.yaml:8:12 spec.hwAccel: expected auto, off, qsv, vaapi or nvenc, got "cuda"']],
    ['wrong type', doc('device: TV', 'url: https://x.example/', 'priority: high'), ['kitchen.yaml:8:13 spec.priority: expected a number, got "high"']],
    ['bad name', HEAD.replace('name: kitchen', 'name: Kitchen_TV') + '  device: TV\n  url: https://x.example/\n', ['kitchen.yaml:4:9 metadata.name: expected a lowercase name of letters, digits and dashes (like kitchen-tv), got "Kitchen_TV"']],
    ['spec is not a mapping', HEAD + '  - device: TV\n', ['kitchen.yaml:5:1 spec: expected a mapping, got a list']],
    ['document is not a mapping', 'just some text\n', ['kitchen.yaml:1:1 expected a mapping, got "just some text"']],
    ['duplicate key', doc('device: TV', 'url: https://x.example/', 'quality: 720p', 'quality: 1080p'), ['kitchen.yaml:9:3 spec.quality: duplicate field "quality" (first at line 8)']],
    ['YAML syntax error', doc('device: TV', 'url: https://x.example/', 'quality: [720p'), ['kitchen.yaml:9:1 spec.quality[0]: Flow sequence in block collection must be sufficiently indented and end with a ]']],
  ])('%s', (_name, text, expected) => {
    const r = loadSpecText(text, 'kitchen.yaml');
    expect(r.diagnostics.map(formatDiagnostic)).toEqual(expected);
    expect(r.specs).toEqual([]);
  });

  it('reads the name beside a syntax error', () => {
    const r = loadSpecText(doc('device: TV', 'url: https://x.example/', 'quality: [720p'), 'kitchen.yaml');
    expect(r.invalidNames).toEqual(['kitchen']);
    expect(r.diagnostics[0]?.spec).toBe('kitchen');
  });

  it('names the spec in diagnostics and in invalidNames when the name is readable', () => {
    const r = loadSpecText(doc('device: TV', 'url: https://x.example/', 'qualty: 720p'), 'kitchen.yaml');
    expect(r.invalidNames).toEqual(['kitchen']);
    expect(r.diagnostics[0]).toMatchObject({ spec: 'kitchen', severity: 'error', path: 'spec.qualty', line: 8, column: 3 });
  });
});

describe('files with several documents', () => {
  const good = (name: string) => `apiVersion: pagecast/v1\nkind: CastSpec\nmetadata: { name: ${name} }\nspec: { device: TV, url: "https://x.example/" }\n`;

  it('keeps the good documents beside a bad one and ignores empty ones', () => {
    const text = ['', good('one'), good('two').replace('device: TV', 'devise: TV'), '# only a comment\n', good('three')].join('---\n');
    const r = loadSpecText(text, 'multi.yaml');
    expect(r.specs.map((s) => [s.spec.metadata.name, s.docIndex, s.line])).toEqual([
      ['one', 0, 4],
      ['three', 3, 16],
    ]);
    expect(r.diagnostics.map(formatDiagnostic)).toEqual([
      'multi.yaml:10:7 spec.device: missing, expected a device name, {host, port} or {id}',
      'multi.yaml:10:9 spec.devise: unknown field "devise" (did you mean device?)',
    ]);
    expect(r.invalidNames).toEqual(['two']);
  });

  it('keeps good documents beside a syntax error in another', () => {
    const r = loadSpecText([good('one'), 'a: [1\nb: c\n', good('three')].join('---\n'), 'multi.yaml');
    expect(r.specs.map((s) => s.spec.metadata.name)).toEqual(['one', 'three']);
    expect(r.diagnostics).toHaveLength(1);
    expect(r.diagnostics[0]).toMatchObject({ file: 'multi.yaml', line: 7, severity: 'error' });
  });

  it.each([['empty file', ''], ['only comments', '# nothing yet\n'], ['only separators', '---\n---\n']])('%s: no specs, no errors', (_n, text) => {
    expect(loadSpecText(text, 'empty.yaml')).toEqual({ specs: [], diagnostics: [], invalidNames: [] });
  });
});

describe('robustness', () => {
  const full = `# yaml-language-server: $schema=../pagecast.schema.json
apiVersion: pagecast/v1
kind: CastSpec
metadata:
  name: kitchen
  labels: { site: home }
spec:
  device: { host: 127.0.0.1, port: 8009 }
  urlFrom: { env: HA_URL }
  quality: { width: 1280, height: 720, fps: 30, bitrateKbps: 2500 }
  browser:
    waitFor: { selector: "home-assistant" }
    reload: 6h
    zoom: 1.25
    css: "ha-sidebar { display: none }"
    headers: { X-Token: abc }
  policy: { onOtherApp: takeover, backoff: { initial: 2s, max: 5m }, maxRestarts: { count: 3, window: 10m } }
  schedule:
    timezone: Europe/Berlin
    windows:
      - { days: [mon, fri], start: "07:00", end: "18:00" }
---
apiVersion: pagecast/v1
kind: CastSpec
metadata: &m { name: other }
spec: { device: "Kitchen TV", url: "https://x.example/?a=1&b=2" }
`;

  it('never throws on truncated or mangled input, and every diagnostic has a position', () => {
    expect(loadSpecText(full, 'full.yaml').diagnostics).toEqual([]);
    let seed = 42;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const cuts = Array.from({ length: 150 }, () => rand(full.length));
    for (const cut of cuts) {
      const variants = [full.slice(0, cut), full.slice(cut), full.slice(0, cut) + full.slice(cut + 1 + rand(20)), full.slice(0, cut) + '\t:{[*&!|>%@`' [rand(12)] + full.slice(cut)];
      for (const text of variants) {
        const r = loadSpecText(text, 'fuzz.yaml');
        for (const d of r.diagnostics) {
          expect(d.line).toBeGreaterThanOrEqual(1);
          expect(d.column).toBeGreaterThanOrEqual(1);
          expect(d.message.length).toBeGreaterThan(0);
        }
      }
    }
  });

  it('refuses an alias bomb instead of expanding it', () => {
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]', ...Array.from({ length: 8 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10).fill(`*${String.fromCharCode(97 + i)}`).join(', ')}]`)].join('\n');
    const r = loadSpecText(bomb, 'bomb.yaml');
    expect(r.specs).toEqual([]);
    expect(r.diagnostics.length).toBeGreaterThan(0);
  });

  it('does not echo secret values in messages', () => {
    const r = loadSpecText(doc('device: TV', 'url: https://x.example/', 'browser: { headers: { Authorization: 12345 } }'), 'k.yaml');
    expect(r.diagnostics.map(formatDiagnostic)).toEqual(['k.yaml:8:40 spec.browser.headers.Authorization: expected a string, got 12345']);
  });
});
