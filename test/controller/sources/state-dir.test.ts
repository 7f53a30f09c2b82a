import { waitUntil } from '../../helpers.js';
import { mkdtemp, readFile, readdir, rm, stat, writeFile, chmod, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { readJsonFile, writeFileAtomic, writeFileAtomicSync } from '../../../machines/atomic-file.js';
import { silentLogger } from '../../../machines/log.js';
import { defaultStateDir, SerialWriter, StateDir, type LastGoodEntry } from '../../../controller/sources/state-dir.js';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'pagecast-state-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const entry = (hash: string): LastGoodEntry => ({
  file: 'kitchen.yaml',
  line: 3,
  column: 1,
  hash,
  spec: { apiVersion: 'pagecast/v1', kind: 'CastSpec', metadata: { name: 'kitchen' }, spec: { device: 'Kitchen TV', url: 'https://ha.example/k' } },
});

describe('writeFileAtomic / readJsonFile', () => {
  it('writes with the given mode and leaves no temp file behind', async () => {
    const p = join(root, 'a.json');
    await writeFileAtomic(p, '{"x":1}', 0o600);
    expect((await stat(p)).mode & 0o777).toBe(0o600);
    expect(await readFile(p, 'utf8')).toBe('{"x":1}');
    await writeFileAtomic(p, '{"x":2}');
    expect(await readdir(root)).toEqual(['a.json']);
    expect(await readJsonFile(p)).toEqual({ ok: true, value: { x: 2 } });
  });

  it('reports missing and corrupt files without throwing', async () => {
    expect(await readJsonFile(join(root, 'nope.json'))).toEqual({ ok: false, missing: true });
    const p = join(root, 'bad.json');
    await writeFile(p, '{"x":');
    const r = await readJsonFile(p);
    expect(r.ok).toBe(false);
    expect('error' in r && r.error).toMatch(/bad\.json: not valid JSON/);
  });

  it('fails cleanly when the directory does not exist', async () => {
    await expect(writeFileAtomic(join(root, 'missing', 'a.json'), 'x')).rejects.toThrow(/ENOENT/);
  });

  it('writeFileAtomicSync: the same steps without yielding; the mode is exact whatever the umask', async () => {
    const p = join(root, 'children.json');
    writeFileAtomicSync(p, '{"x":1}', 0o666);
    expect((await stat(p)).mode & 0o777).toBe(0o666);
    writeFileAtomicSync(p, '{"x":2}');
    expect((await stat(p)).mode & 0o777).toBe(0o600);
    expect(await readdir(root)).toEqual(['children.json']);
    expect(await readJsonFile(p)).toEqual({ ok: true, value: { x: 2 } });
    expect(() => writeFileAtomicSync(join(root, 'missing', 'a.json'), 'x')).toThrow(/ENOENT/);
  });

  it('a rename that fails leaves the target and no temp file', async () => {
    // A directory cannot be replaced by a file: the rename fails after the temp file was written.
    await mkdir(join(root, 'taken'));
    await expect(writeFileAtomic(join(root, 'taken'), 'x')).rejects.toThrow();
    expect(() => writeFileAtomicSync(join(root, 'taken'), 'x')).toThrow();
    expect(await readdir(root)).toEqual(['taken']);
    expect((await stat(join(root, 'taken'))).isDirectory()).toBe(true);
  });
});

describe('StateDir', () => {
  it('creates a missing directory with mode 0700 and starts empty', async () => {
    const dir = join(root, 'deep', 'state');
    const snap = await new StateDir({ dir, log: silentLogger() }).open();
    expect(snap).toEqual({ lastGood: {}, suspended: [], casts: [], problems: [] });
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
  });

  it('a path that cannot be a directory is a CONFIG error naming it', async () => {
    const file = join(root, 'file');
    await writeFile(file, 'x');
    const err = await new StateDir({ dir: file, log: silentLogger() }).open().catch((e) => e);
    expect(err.code).toBe('CONFIG');
    expect(err.message).toMatch(`state directory ${file} cannot be used: EEXIST`);
    const under = await new StateDir({ dir: join(file, 'sub'), log: silentLogger() }).open().catch((e) => e);
    expect(under.code).toBe('CONFIG');
    expect(under.message).toMatch(/ENOTDIR/);
  });

  it('tightens a directory others can read', async () => {
    const dir = join(root, 'loose');
    await mkdir(dir);
    await chmod(dir, 0o755);
    await new StateDir({ dir, log: silentLogger() }).open();
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
  });

  it('keeps last good specs, suspends and casts across a restart, files 0600', async () => {
    const dir = join(root, 'state');
    const a = new StateDir({ dir, log: silentLogger() });
    await a.open();
    await a.saveLastGood('kitchen', entry('h1'));
    await a.setSuspended('office', true);
    await a.setSuspended('hall', true);
    await a.setSuspended('hall', false);
    await a.putCast({ name: 'doorbell', request: { device: 'Kitchen TV', url: 'https://cam.example/live?token=s3cret' }, createdAt: '2025-01-01T10:00:00.000Z', expiresAt: '2025-01-01T10:10:00.000Z' });
    await a.putCast({ name: 'tmp', request: { device: { host: '127.0.0.1', port: 8009 }, url: 'https://x.example/' }, createdAt: '2025-01-01T10:00:00.000Z' });
    await a.deleteCast('tmp');

    const b = new StateDir({ dir, log: silentLogger() });
    const snap = await b.open();
    expect(snap.problems).toEqual([]);
    expect(snap.lastGood).toEqual({ kitchen: entry('h1') });
    expect(snap.suspended).toEqual(['office']);
    expect(snap.casts).toEqual([
      { name: 'doorbell', request: { device: 'Kitchen TV', url: 'https://cam.example/live?token=s3cret' }, createdAt: '2025-01-01T10:00:00.000Z', expiresAt: '2025-01-01T10:10:00.000Z' },
    ]);
    expect(b.isSuspended('office')).toBe(true);
    for (const f of ['last-good.json', 'suspends.json', 'casts.json']) {
      expect((await stat(join(dir, f))).mode & 0o777).toBe(0o600);
    }
    await b.dropLastGood('kitchen');
    expect((await new StateDir({ dir, log: silentLogger() }).open()).lastGood).toEqual({});
  });

  it.each([
    ['a spec that no longer validates', { ...entry('h1'), spec: { apiVersion: 'pagecast/v1', kind: 'CastSpec', metadata: { name: 'kitchen' }, spec: { device: 5, url: 'https://x.example/' } } }, /spec no longer valid: spec\.device: /],
    ['no spec at all', { ...entry('h1'), spec: null }, /spec no longer valid/],
    ['a spec named otherwise', { ...entry('h1'), spec: { ...(entry('h1').spec as object), metadata: { name: 'office' } } }, /spec is named office/],
    ['a position that is not a number', { ...entry('h1'), line: 'x' }, /line/],
  ])('a last good entry with %s is set aside, the others still load', async (_what, bad, reason) => {
    const dir = join(root, 'state');
    const a = new StateDir({ dir, log: silentLogger() });
    await a.open();
    await a.saveLastGood('office', { ...entry('h2'), spec: { ...(entry('h2').spec as object), metadata: { name: 'office' } } });
    await a.flush();
    const file = JSON.parse(await readFile(join(dir, 'last-good.json'), 'utf8'));
    file.lastGood.kitchen = bad;
    await writeFile(join(dir, 'last-good.json'), JSON.stringify(file));

    const b = new StateDir({ dir, log: silentLogger() });
    const snap = await b.open();
    expect(Object.keys(snap.lastGood)).toEqual(['office']);
    expect(snap.problems).toHaveLength(1);
    expect(snap.problems[0]).toMatch(/last-good\.json: entry "kitchen" set aside in .*last-good\.json\.rejected-/);
    expect(snap.problems[0]).toMatch(reason);
    const aside = (await readdir(dir)).find((f) => f.startsWith('last-good.json.rejected-'))!;
    expect(JSON.parse(await readFile(join(dir, aside), 'utf8')).kitchen.entry).toEqual(bad);
    await b.flush();
    expect(Object.keys(JSON.parse(await readFile(join(dir, 'last-good.json'), 'utf8')).lastGood)).toEqual(['office']);
  });

  it('a stored cast whose expiry is not a time is reported and dropped', async () => {
    const dir = join(root, 'state');
    const a = new StateDir({ dir, log: silentLogger() });
    await a.open();
    await a.putCast({ name: 'bad', request: { device: 'TV', url: 'https://x.example/' }, createdAt: '2025-01-01T10:00:00.000Z', expiresAt: 'Infinity' });
    const snap = await new StateDir({ dir, log: silentLogger() }).open();
    expect(snap.casts).toEqual([]);
    expect(snap.problems.join('\n')).toMatch(/casts\.json: cast #0 ignored: expiresAt: expiresAt is not a time/);
  });

  it('reports a corrupt file, sets it aside, and still loads the others', async () => {
    const dir = join(root, 'state');
    const a = new StateDir({ dir, log: silentLogger() });
    await a.open();
    await a.saveLastGood('kitchen', entry('h1'));
    await a.setSuspended('office', true);
    await a.putCast({ name: 'doorbell', request: { device: 'TV', url: 'https://cam.example/' }, createdAt: '2025-01-01T10:00:00.000Z' });
    await writeFile(join(dir, 'suspends.json'), '{"version":1,"suspended":[');
    await writeFile(join(dir, 'casts.json'), JSON.stringify({ version: 1, casts: [{ name: 'ok', request: { device: 'TV', url: 'https://a.example/' }, createdAt: 'x' }, { nope: true }] }));

    const lines: string[] = [];
    const { pino } = await import('pino');
    const log = pino({ level: 'info' }, { write: (l: string) => lines.push(l) });
    const b = new StateDir({ dir, log });
    const snap = await b.open();
    expect(snap.lastGood).toEqual({ kitchen: entry('h1') });
    expect(snap.suspended).toEqual([]);
    expect(snap.casts.map((c) => c.name)).toEqual(['ok']);
    expect(snap.problems).toHaveLength(3);
    expect(snap.problems[0]).toMatch(/suspends\.json: not valid JSON/);
    expect(snap.problems[1]).toMatch(/suspends\.json: kept as .*suspends\.json\.corrupt-/);
    expect(snap.problems[2]).toMatch(/casts\.json: cast #1 ignored/);
    expect(lines.filter((l) => l.includes('could not be loaded'))).toHaveLength(3);
    expect((await readdir(dir)).some((f) => f.startsWith('suspends.json.corrupt-'))).toBe(true);

    // The next write replaces the set-aside file cleanly.
    await b.setSuspended('hall', true);
    expect((await new StateDir({ dir, log: silentLogger() }).open()).suspended).toEqual(['hall']);
  });

  it('checks a stored cast request against EphemeralCastRequestSchema: unknown fields, wrong types and file: URLs are set aside, naming them', async () => {
    const dir = join(root, 'state');
    await mkdir(dir, { recursive: true });
    const kept = { name: 'a', request: { device: 'TV', url: 'https://a.example/', priority: 5 }, createdAt: 'x' };
    const wrong = { name: 'b', request: { device: 'TV', url: 'https://b.example/', priority: 'high' }, createdAt: 'x' };
    const extra = { name: 'c', request: { device: 'TV', url: 'https://c.example/', comment: { by: 'ha' } }, createdAt: 'x' };
    const file = { name: 'd', request: { device: 'TV', url: 'file:///etc/passwd' }, createdAt: 'x' };
    await writeFile(join(dir, 'casts.json'), JSON.stringify({ version: 1, casts: [kept, wrong, extra, file] }));
    const snap = await new StateDir({ dir, log: silentLogger() }).open();
    expect(snap.casts).toEqual([kept]);
    expect(snap.problems).toEqual([
      expect.stringMatching(/casts\.json: cast #1 ignored: request\.priority: /),
      expect.stringMatching(/casts\.json: cast #2 ignored: request: Unrecognized key: "comment"/),
      expect.stringMatching(/casts\.json: cast #3 ignored: request\.url: /),
    ]);
  });

  it('rejects a file of the wrong shape or version', async () => {
    const dir = join(root, 'state');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'last-good.json'), JSON.stringify({ version: 99, lastGood: {} }));
    await writeFile(join(dir, 'suspends.json'), JSON.stringify(['a']));
    const snap = await new StateDir({ dir, log: silentLogger() }).open();
    expect(snap.problems.filter((p) => p.includes('unexpected content'))).toHaveLength(2);
    expect(snap.problems.join('\n')).toMatch(/last-good\.json: unexpected content: version/);
  });

  it('serialises quick writes: the file ends with the last state', async () => {
    const dir = join(root, 'state');
    const a = new StateDir({ dir, log: silentLogger() });
    await a.open();
    const writes = [];
    for (let i = 0; i < 50; i++) writes.push(a.setSuspended(`s${i}`, true));
    for (let i = 0; i < 50; i += 2) writes.push(a.setSuspended(`s${i}`, false));
    await Promise.all(writes);
    const file = JSON.parse(await readFile(join(dir, 'suspends.json'), 'utf8'));
    expect(file.suspended).toHaveLength(25);
    expect(file.suspended).toEqual(expect.arrayContaining(['s1', 's49']));
    expect(file.suspended).not.toContain('s0');
    expect((await readdir(dir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('a failing write rejects and leaves the state in memory', async () => {
    const dir = join(root, 'state');
    const lines: string[] = [];
    const { pino } = await import('pino');
    const a = new StateDir({ dir, log: pino({ level: 'info' }, { write: (l: string) => lines.push(l) }) });
    await a.open();
    await rm(dir, { recursive: true });
    await expect(a.setSuspended('x', true)).rejects.toThrow(/ENOENT/);
    expect(a.isSuspended('x')).toBe(true);
    // Fire and forget (as the reconciler does): logged, never an unhandled rejection.
    void a.saveLastGood('kitchen', entry('h2'));
    await vi.waitFor(() => expect(lines.some((l) => l.includes('last-good.json') && l.includes('write failed'))).toBe(true));
    await new Promise((r) => setImmediate(r));
    await mkdir(dir);
    await a.setSuspended('y', true);
    expect((await new StateDir({ dir, log: silentLogger() }).open()).suspended).toEqual(['x', 'y']);
  });
});

describe('SerialWriter', () => {
  it('never runs two writes at once and coalesces a burst', async () => {
    let running = 0;
    let maxRunning = 0;
    let runs = 0;
    let release: () => void = () => {};
    const w = new SerialWriter(async () => {
      running++;
      runs++;
      maxRunning = Math.max(maxRunning, running);
      await new Promise<void>((r) => (release = r));
      running--;
    });
    const first = w.schedule();
    expect(w.schedule()).toBe(first); // not started yet: joins it
    await waitUntil(() => running === 1, 2000, 'first write running');
    const burst = [w.schedule(), w.schedule(), w.schedule()];
    expect(burst[0]).toBe(burst[2]);
    expect(burst[0]).not.toBe(first);
    release();
    await first;
    await waitUntil(() => running === 1 && runs === 2, 2000, 'second write running');
    release();
    await Promise.all(burst);
    expect(runs).toBe(2);
    expect(maxRunning).toBe(1);
  });
});

describe('defaultStateDir', () => {
  it('prefers PAGECAST_STATE_DIR, then XDG_STATE_HOME, then ~/.local/state', () => {
    expect(defaultStateDir({ PAGECAST_STATE_DIR: '/s', XDG_STATE_HOME: '/x' }, '/home/u')).toBe('/s');
    expect(defaultStateDir({ XDG_STATE_HOME: '/x' }, '/home/u')).toBe('/x/pagecast');
    expect(defaultStateDir({}, '/home/u')).toBe('/home/u/.local/state/pagecast');
  });
});
