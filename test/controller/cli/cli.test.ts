import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../../controller/cli/cli.js';
import { apiCommand, type ApiCommandIO } from '../../../controller/cli/api-commands.js';
import { COMMANDS, type CommandName } from '../../../controller/cli/commands.js';
import { CLEAR_SCREEN } from '../../../controller/cli/watch.js';
import { Controller } from '../../../controller/controller.js';
import { silentLogger } from '../../../machines/log.js';
import { startApiServer, type ApiServer } from '../../../controller/http/api.js';
import { loadOrCreateToken } from '../../../controller/http/auth.js';
import { standInComponents, type StandIns } from '../../stand-ins/components.js';
import { waitUntil } from '../../helpers.js';

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((out += String(s)), true));
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((err += String(s)), true));
  try {
    const code = await main(args);
    return { code, out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

describe('pagecast validate / schema', () => {
  it('accepts the examples', async () => {
    const r = await run(['validate', 'examples']);
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/[1-9]\d* spec\(s\) checked: 0 error/);
  });
  it('exits 1 with file:line:col errors on a broken spec, and prints GitHub annotations', async () => {
    const r = await run(['validate', 'test/fixtures/specs/broken/kitchen.yaml']);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^test\/fixtures\/specs\/broken\/kitchen\.yaml:8:12 spec\.quality: expected 480p, 720p, 1080p/m);
    const g = await run(['validate', '--format', 'github', 'test/fixtures/specs/broken']);
    expect(g.code).toBe(1);
    expect(g.out).toMatch(/^::error file=test\/fixtures\/specs\/broken\/kitchen\.yaml,line=8,col=12,title=pagecast::spec\.quality/m);
  });
  it('reports a name used twice, and a missing path', async () => {
    const r = await run(['validate', 'test/fixtures/specs/collide']);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/metadata\.name/);
    expect((await run(['validate', 'no/such/dir'])).code).toBe(1);
    expect((await run(['validate'])).code).toBe(2);
  });
  it('warns about two specs on one device at equal priority with overlapping windows', async () => {
    const d = mkdtempSync(join(tmpdir(), 'pc-cli-'));
    try {
      const s = (n: string) => `apiVersion: pagecast/v1\nkind: CastSpec\nmetadata: { name: ${n} }\nspec:\n  device: Hall TV\n  url: https://x.example/${n}\n`;
      writeFileSync(join(d, 'a.yaml'), s('a'));
      writeFileSync(join(d, 'b.yaml'), s('b'));
      const r = await run(['validate', d]);
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/warning/);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
  it('1,500 files full of errors: every file reported, output bounded, no stack overflow', async () => {
    const d = mkdtempSync(join(tmpdir(), 'pc-cli-many-'));
    try {
      const junk = Array.from({ length: 80 }, (_, i) => `  junk${i}: 1`).join('\n');
      for (let i = 0; i < 1500; i++) writeFileSync(join(d, `s${i}.yaml`), `apiVersion: pagecast/v1\nkind: CastSpec\nmetadata: { name: s${i} }\nspec:\n  device: TV ${i}\n  url: https://x.example/\n${junk}\n`);
      const r = await run(['validate', d]);
      expect(r.code).toBe(1);
      const lines = r.out.trimEnd().split('\n');
      expect(lines).toHaveLength(1500 * 51); // 50 problems per file, then a count of the rest
      expect(lines.filter((l) => l.endsWith('30 more problems in this file not shown'))).toHaveLength(1500);
      expect(r.err).toMatch(/0 spec\(s\) checked: 76500 error\(s\)/);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  }, 60_000);
  it('prints the JSON Schema', async () => {
    const r = await run(['schema']);
    expect(r.code).toBe(0);
    const schema = JSON.parse(r.out);
    expect(schema.$id).toBeDefined();
    expect(JSON.stringify(schema)).toContain('priority');
  });
  it('rejects an unknown command with usage', async () => {
    const r = await run(['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/unknown command/);
  });
});

describe('--help', () => {
  const names = Object.keys(COMMANDS) as CommandName[];

  it('every subcommand prints its usage and every option it takes, and exits 0 without doing anything', async () => {
    for (const name of names) {
      const r = await run([name, '--help', '--api-url', 'http://127.0.0.1:1']);
      expect([r.code, r.err], name).toEqual([0, '']);
      expect(r.out, name).toMatch(new RegExp(`^Usage: pagecast ${name}\\b.*\\n\\n[A-Z].*`));
      for (const flag of Object.keys(COMMANDS[name].options)) expect(r.out, `${name} --${flag}`).toMatch(new RegExp(`\\n  (-\\w, )?--${flag}\\b`));
      expect(r.out).toContain('\n  -h, --help');
      // The same text for -h, for `pagecast help NAME`, and with other flags beside it.
      expect((await run([name, '-h'])).out, name).toBe(r.out);
      expect((await run(['help', name])).out, name).toBe(r.out);
      expect((await run([name, '--no-such-flag', '--help'])).out, name).toBe(r.out);
    }
  });

  it('status --help (once "Unknown option")', async () => {
    const r = await run(['status', '--help']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^Usage: pagecast status \[NAME\] \[options\]\n/);
    expect(r.out).toMatch(/\n {2}-w, --watch +redraw when it changes, until Ctrl-C/);
  });

  it('pagecast --help lists every command; no command is usage on exit 2', async () => {
    for (const args of [['--help'], ['-h'], ['help']]) {
      const r = await run(args);
      expect(r.code).toBe(0);
      for (const name of names) expect(r.out).toMatch(new RegExp(`\\n  pagecast ${name}\\b`));
      expect(r.out).toContain('Run "pagecast COMMAND --help"');
    }
    expect((await run([])).code).toBe(2);
    const unknown = await run(['help', 'frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/^pagecast help: unknown command "frobnicate"\n/);
  });

  it('an unknown option or a missing value is a usage error naming it (exit 2)', async () => {
    expect(await run(['status', '--bogus'])).toEqual({ code: 2, out: '', err: 'pagecast status: unknown option --bogus (see pagecast status --help)\n' });
    expect(await run(['cast', '--device'])).toEqual({ code: 2, out: '', err: 'pagecast cast: --device needs a value (see pagecast cast --help)\n' });
    expect(await run(['status', 'a', 'b'])).toEqual({ code: 2, out: '', err: 'pagecast status: unexpected argument "b" (see pagecast status --help)\n' });
    expect(await run(['schema', 'x'])).toEqual({ code: 2, out: '', err: 'pagecast schema: unexpected argument "x" (see pagecast schema --help)\n' });
    expect((await run(['run', '--log-format', 'yaml'])).err).toBe('pagecast run: --log-format: expected json, pretty or auto, got "yaml"\n');
    expect((await run(['validate', '--format', 'xml', 'examples'])).code).toBe(2);
  });

  it('after --, --help is an argument', async () => {
    const r = await run(['validate', '--', '--help']);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^--help:1:1 .*no such file or directory/);
  });
});

describe('pagecast status / suspend / resume / cast against a running controller', () => {
  let ctl: Controller;
  let api: ApiServer;
  let tokenFile: string;
  let apiUrl: string;
  const dir = mkdtempSync(join(tmpdir(), 'pc-cli-specs-'));
  const state = mkdtempSync(join(tmpdir(), 'pc-cli-state-'));
  const streams = mkdtempSync(join(tmpdir(), 'pc-cli-s-'));
  beforeAll(async () => {
    writeFileSync(join(dir, 'k.yaml'), `apiVersion: pagecast/v1\nkind: CastSpec\nmetadata: { name: kitchen }\nspec:\n  device: Kitchen TV\n  url: https://ha.example/k?token=hunter2\n`);
    ctl = new Controller({ specsDir: dir, stateDir: state, components: standInComponents(streams), log: silentLogger() });
    await ctl.start();
    tokenFile = join(state, 'api-token');
    api = await startApiServer({ control: ctl, host: '127.0.0.1', port: 0, token: await loadOrCreateToken(tokenFile), log: silentLogger() });
    apiUrl = api.url;
    await waitUntil(() => ctl.get('kitchen')?.phase === 'Playing');
  });
  afterAll(async () => {
    await api?.close();
    await ctl?.stop();
    for (const d of [dir, state, streams]) rmSync(d, { recursive: true, force: true });
  });

  it('status prints a table, one spec in detail, and JSON; secrets are redacted', async () => {
    const t = await run(['status', '--api-url', apiUrl, '--token-file', tokenFile]);
    expect(t.code).toBe(0);
    expect(t.out).toMatch(/NAME\s+DEVICE\s+PHASE/);
    expect(t.out).toMatch(/kitchen\s+Kitchen TV\s+Playing/);
    const j = await run(['status', 'kitchen', '--json', '--api-url', apiUrl]);
    expect(JSON.parse(j.out).phase).toBe('Playing');
    expect(j.out).not.toContain('hunter2');
    const missing = await run(['status', 'nope', '--api-url', apiUrl]);
    expect(missing.code).toBe(1);
  });
  it('suspend and resume need the token, and work with it', async () => {
    const bad = await run(['suspend', 'kitchen', '--api-url', apiUrl, '--token-file', join(tmpdir(), 'no-such-token')]);
    expect(bad.code).toBe(1);
    expect((await run(['suspend', 'kitchen', '--api-url', apiUrl, '--token-file', tokenFile])).code).toBe(0);
    await waitUntil(() => ctl.get('kitchen')?.phase === 'Suspended');
    expect((await run(['resume', 'kitchen', '--api-url', apiUrl, '--token-file', tokenFile])).code).toBe(0);
    await waitUntil(() => ctl.get('kitchen')?.phase === 'Playing');
  });
  it('cast creates an ephemeral cast that preempts, uncast ends it; bad input names the field', async () => {
    const r = await run(['cast', '--device', 'Kitchen TV', '--url', 'https://cam.example/door', '--for', '10m', '--name', 'doorbell', '--api-url', apiUrl, '--token-file', tokenFile]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^doorbell \(until /);
    await waitUntil(() => ctl.get('doorbell')?.phase === 'Playing' && ctl.get('kitchen')?.phase === 'Preempted');
    expect((await run(['uncast', 'doorbell', '--api-url', apiUrl, '--token-file', tokenFile])).code).toBe(0);
    await waitUntil(() => ctl.get('kitchen')?.phase === 'Playing');
    const bad = await run(['cast', '--device', 'Kitchen TV', '--url', 'gopher://x', '--api-url', apiUrl, '--token-file', tokenFile]);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/body\.url/);
  });
  /** `pagecast status` with its output, terminal and Ctrl-C in the test's hands. */
  const watching = (args: string[], tty: boolean) => {
    let out = '';
    let interrupt = () => {};
    const io: ApiCommandIO = {
      out: (t) => void (out += t),
      err: (t) => void (out += `[stderr] ${t}`),
      stdoutIsTTY: tty,
      env: {},
      onInterrupt(stop) {
        interrupt = stop;
        return () => (interrupt = () => {});
      },
      watchIntervalMs: 50,
    };
    const done = apiCommand('status', ['--watch', ...args, '--api-url', apiUrl], io);
    return { done, out: () => out, interrupt: () => interrupt() };
  };

  it('status --watch on a terminal redraws the table in place when it changes, and Ctrl-C exits 0', async () => {
    const w = watching([], true);
    const frames = () => w.out().split(CLEAR_SCREEN).slice(1);
    await waitUntil(() => /kitchen +Kitchen TV +Playing/.test(w.out()));
    await ctl.suspend('kitchen');
    await waitUntil(() => /kitchen +Kitchen TV +Suspended/.test(frames().at(-1) ?? ''));
    await ctl.resume('kitchen');
    await waitUntil(() => /kitchen +Kitchen TV +Playing/.test(frames().at(-1) ?? ''));
    w.interrupt();
    expect(await w.done).toBe(0);
    expect(w.out().startsWith(CLEAR_SCREEN)).toBe(true);
    const all = frames();
    for (const f of all) expect(f).toMatch(/^NAME +DEVICE +PHASE[^\n]*\nkitchen [^\n]*\n$/);
    // Drawn only on change: no frame repeats the one before (polled every 50 ms for far longer).
    for (let i = 1; i < all.length; i++) expect(all[i]).not.toBe(all[i - 1]);
  });

  it('status --watch to a pipe appends frames without escape codes; --json gives one JSON line per change', async () => {
    const w = watching(['kitchen'], false);
    await waitUntil(() => /\nPhase: +Playing\n/.test(w.out()));
    w.interrupt();
    expect(await w.done).toBe(0);
    expect(w.out()).not.toContain('\x1b');
    expect(w.out()).toMatch(/^Name: +kitchen\n/);

    const j = watching(['--json'], false);
    await waitUntil(() => j.out().includes('\n'));
    j.interrupt();
    expect(await j.done).toBe(0);
    const lines = j.out().trimEnd().split('\n').filter(Boolean);
    expect(JSON.parse(lines[0]!)[0]).toMatchObject({ name: 'kitchen', phase: 'Playing' });
    expect(j.out()).not.toContain('hunter2');
  });

  it('status --watch: a wrong address fails at once (exit 1); the real command ends on SIGINT with exit 0', async () => {
    const bad = await run(['status', '--watch', '--api-url', 'http://127.0.0.1:1']);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/^pagecast status: pagecast is not running at http:\/\/127\.0\.0\.1:1/);
    const child = spawn(process.execPath, ['dist/controller/cli/cli.js', 'status', '--watch', '--api-url', apiUrl], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += String(d)));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    await waitUntil(() => /kitchen +Kitchen TV/.test(out), 10_000, 'the first frame');
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(out).not.toContain('\x1b'); // stdout is a pipe here
  });

  it('says clearly when pagecast is not running', async () => {
    const r = await run(['status', '--api-url', 'http://127.0.0.1:1']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/not running/);
  });
});

describe('pagecast page against a running controller', () => {
  let ctl: Controller;
  let api: ApiServer;
  let tokenFile: string;
  let c: StandIns;
  const dir = mkdtempSync(join(tmpdir(), 'pc-cli-pages-'));
  const state = mkdtempSync(join(tmpdir(), 'pc-cli-pages-state-'));
  const streams = mkdtempSync(join(tmpdir(), 'pc-cli-pages-s-'));
  const page = (...args: string[]) => run(['page', ...args, '--api-url', api.url, '--token-file', tokenFile]);
  /** The clock time in this machine's zone, as status prints it. */
  const clock = (iso: string) => new Date(iso).toTimeString().slice(0, 8);
  beforeAll(async () => {
    const pages = '  pages:\n    - url: https://grafana.example/d/power?auth=SECRETA\n    - url: https://cam.example/door?sig=SECRETB\n      for: 10s\n    - url: https://ha.example/k?token=SECRETC\n';
    writeFileSync(join(dir, 'board.yaml'), `apiVersion: pagecast/v1\nkind: CastSpec\nmetadata: { name: board }\nspec:\n  device: TV A\n${pages}`);
    writeFileSync(join(dir, 'single.yaml'), `apiVersion: pagecast/v1\nkind: CastSpec\nmetadata: { name: single }\nspec:\n  device: TV B\n  url: https://x.example/\n`);
    c = standInComponents(streams);
    ctl = new Controller({ specsDir: dir, stateDir: state, components: c, log: silentLogger() });
    await ctl.start();
    tokenFile = join(state, 'api-token');
    api = await startApiServer({ control: ctl, host: '127.0.0.1', port: 0, token: await loadOrCreateToken(tokenFile), log: silentLogger() });
    await waitUntil(() => ctl.get('board')?.phase === 'Playing' && ctl.get('board')?.page?.index === 0);
  });
  afterAll(async () => {
    await api?.close();
    await ctl?.stop();
    for (const d of [dir, state, streams]) rmSync(d, { recursive: true, force: true });
  });

  it('shows page N (0-based) and prints what is on screen now; status shows it too', async () => {
    const r = await page('board', '2');
    expect([r.code, r.err]).toEqual([0, '']);
    const p = ctl.get('board')!.page!;
    expect(p.index).toBe(2);
    expect(r.out).toBe(`board: page 2 (of 0–2) https://ha.example/k?[redacted] since ${clock(p.since!)}, next ${clock(p.nextSwitchAt!)}\n`);
    expect(c.log.rotations()[0]!.jumps).toEqual([2]);
    const detail = await run(['status', 'board', '--api-url', api.url]);
    expect(detail.out).toMatch(new RegExp(`\nPage: +page 2 \\(of 0–2\\) https://ha\\.example/k\\?\\[redacted\\] since ${clock(p.since!)}, next ${clock(p.nextSwitchAt!)}\n`));
    const json = await run(['status', 'board', '--json', '--api-url', api.url]);
    expect(JSON.parse(json.out).page).toMatchObject({ index: 2, count: 3 });
    for (const out of [r.out, detail.out, json.out]) expect(out).not.toMatch(/SECRET[ABC]/);
  });

  it('a failed page is in status, and jumping to it exits 1 with the API’s message', async () => {
    const rot = c.log.rotations()[0]!;
    rot.fail(1, 'HTTP 500 from https://cam.example/door?sig=SECRETB');
    try {
      const detail = await run(['status', 'board', '--api-url', api.url]);
      expect(detail.out).toMatch(/\nFailed pages: +1 https:\/\/cam\.example\/door\?\[redacted\] \(HTTP 500 from https:\/\/cam\.example\/door\?\[redacted\]\)\n/);
      expect(detail.out).toMatch(/PagesReady +False +PageFailed/);
      const r = await page('board', '1');
      expect([r.code, r.out]).toEqual([1, '']);
      expect(r.err).toBe('pagecast page: page 1 of board (https://cam.example/door?[redacted]) failed to load: HTTP 500 from https://cam.example/door?[redacted]\n');
    } finally {
      rot.set(1, 'ready');
    }
  });

  it('exits 1 with the API’s message for a page out of range, a spec without pages, an unknown spec, and without the token', async () => {
    const cases: Array<[string[], string]> = [
      [['board', '3'], 'pagecast page: no page 3 in board: pages are numbered from 0, so 0 to 2\n'],
      [['single', '0'], 'pagecast page: single shows one URL, not pages: nothing to jump to\n'],
      [['ghost', '0'], 'pagecast page: no spec named "ghost"\n'],
    ];
    for (const [args, err] of cases) {
      const r = await page(...args);
      expect([r.code, r.out, r.err], args.join(' ')).toEqual([1, '', err]);
    }
    const noToken = await run(['page', 'board', '0', '--api-url', api.url, '--token-file', join(tmpdir(), 'no-such-token')]);
    expect(noToken.code).toBe(1);
    expect(noToken.err).toMatch(/^pagecast page: this needs the API token/);
  });

  it('a missing or malformed N is a usage error (exit 2) and asks nothing of the API', async () => {
    const before = c.log.rotations()[0]!.jumps.length;
    for (const args of [['board'], [], ['board', 'two'], ['board', '1.5'], ['board', '0x1']]) {
      const r = await page(...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err).toMatch(/^pagecast page: (name a spec and a page, e\.g\. pagecast page kitchen 0 \(pages are numbered from 0\)|"[^"]+" is not a page index: expected a whole number from 0)\n$/);
    }
    expect(c.log.rotations()[0]!.jumps.length).toBe(before);
    // The other commands' usage errors are exit 2 with their message too.
    for (const [args, err] of [
      [['suspend'], 'pagecast suspend: name a spec\n'],
      [['uncast'], 'pagecast uncast: name a cast\n'],
      [['cast', '--url', 'https://a.example/'], 'pagecast cast: --device and --url are required\n'],
    ] as const) {
      const r = await run([...args, '--api-url', api.url, '--token-file', tokenFile]);
      expect([r.code, r.err], args[0]).toEqual([2, err]);
    }
  });

  it('is in the usage text', async () => {
    const r = await run(['help']);
    expect(r.out).toMatch(/\n {2}pagecast page NAME N +show page N now \(0-based, as in status\) and restart its turn\n/);
  });
});
