import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseSince, reportCommand } from '../../../controller/cli/report.js';
import { main } from '../../../controller/cli/cli.js';
import { processStartTime } from '../../../machines/processes/registry.js';

const NOW = new Date('2025-06-02T08:00:00.000Z');
const h = (hours: number) => new Date(NOW.getTime() - hours * 3_600_000).toISOString();

const line = (o: object) => `${JSON.stringify({ v: 1, ...o })}\n`;

describe('pagecast report', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'pc-report-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const run = async (args: string[]) => {
    let out = '';
    let err = '';
    const code = await reportCommand(args, { now: () => NOW, out: (t) => (out += t), err: (t) => (err += t) });
    return { code, out, err };
  };

  const writeLog = () => {
    // kitchen: 10 h in the last 24 h, ended once by the TV (IdleCancelled), once by no fetches; and
    // 2 h before the window. hall: killed controller (open, checkpoints, no close).
    writeFileSync(
      join(dir, 'play.1.jsonl'),
      line({ type: 'close', spec: 'kitchen', device: 'Kitchen TV', start: h(30), end: h(28), reason: 'Standby' }),
    );
    writeFileSync(
      join(dir, 'play.jsonl'),
      line({ type: 'open', spec: 'kitchen', device: 'Kitchen TV', start: h(20), at: h(20) }) +
        line({ type: 'close', spec: 'kitchen', device: 'Kitchen TV', start: h(20), end: h(14), reason: 'IdleCancelled' }) +
        line({ type: 'close', spec: 'kitchen', device: 'Kitchen TV', start: h(12), end: h(8), reason: 'NoFetches' }) +
        line({ type: 'open', spec: 'hall', device: '192.168.1.20:8009', start: h(6), at: h(6) }) +
        line({ type: 'open', spec: 'hall', device: '192.168.1.20:8009', start: h(6), at: h(3) }) +
        '{"v":1,"type":"op',
    );
  };

  it('prints uptime, played time and interruptions per spec and device over --since', async () => {
    writeLog();
    const r = await run(['--since', '24h', '--state-dir', dir]);
    expect(r.code).toBe(0);
    expect(r.err).toContain(`pagecast report: warning: ${join(dir, 'play.jsonl')}:6: skipped: not valid JSON`);
    const lines = r.out.trimEnd().split('\n');
    expect(lines[0]).toBe(`Play from ${h(24)} (1d ago) to now: 1d (--since 24h)`);
    expect(lines[1]).toMatch(/^SPEC\s+DEVICE\s+UPTIME\s+PLAYED\s+NOW\s+INTERRUPTIONS$/);
    expect(lines[2]).toMatch(/^hall\s+192\.168\.1\.20:8009\s+12\.5%\s+3h\s+-\s+ControllerDied 1$/);
    expect(lines[3]).toMatch(/^kitchen\s+Kitchen TV\s+41\.7%\s+10h\s+-\s+IdleCancelled 1, NoFetches 1$/);
  });

  it('--json gives the same figures', async () => {
    writeLog();
    const r = await run(['--since', '24h', '--json', '--state-dir', dir]);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j).toMatchObject({ since: h(24), until: NOW.toISOString(), windowSeconds: 86_400, stateDir: dir });
    expect(j.rows).toEqual([
      { spec: 'hall', device: '192.168.1.20:8009', uptime: 0.125, playedSeconds: 10_800, intervals: 1, interruptions: { ControllerDied: 1 }, playing: false },
      { spec: 'kitchen', device: 'Kitchen TV', uptime: expect.closeTo(10 / 24, 5), playedSeconds: 36_000, intervals: 2, interruptions: { IdleCancelled: 1, NoFetches: 1 }, playing: false },
    ]);
    expect(j.warnings).toHaveLength(1);
  });

  it('without --since covers the whole log, the rotated files included', async () => {
    writeLog();
    const j = JSON.parse((await run(['--json', '--state-dir', dir])).out);
    expect(j.since).toBe(h(30));
    expect(j.rows.find((x: { spec: string }) => x.spec === 'kitchen').interruptions).toEqual({ Standby: 1, IdleCancelled: 1, NoFetches: 1 });
  });

  it('counts an interval of a running controller as playing until now', async () => {
    writeFileSync(join(dir, 'controller.lock'), JSON.stringify({ pid: process.pid, startTime: processStartTime(process.pid) ?? 0 }));
    writeFileSync(join(dir, 'play.jsonl'), line({ type: 'open', spec: 'hall', device: 'Hall TV', start: h(2), at: h(0.01) }));
    const j = JSON.parse((await run(['--since', '4h', '--json', '--state-dir', dir])).out);
    expect(j.rows).toEqual([expect.objectContaining({ spec: 'hall', uptime: 0.5, playing: true, interruptions: {} })]);
  });

  it('explains a bad --since, a missing state directory and an empty log', async () => {
    const bad = await run(['--since', 'yesterday', '--state-dir', dir]);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--since: expected a duration like 24h or 7d, or a time like .*got "yesterday"/);
    const missing = await run(['--state-dir', join(dir, 'nope')]);
    expect(missing.code).toBe(1);
    expect(missing.err).toBe(`pagecast report: state directory ${join(dir, 'nope')}: no such directory\n`);
    const empty = await run(['--state-dir', dir]);
    expect(empty.code).toBe(0);
    expect(empty.err).toMatch(/no play recorded yet/);
    expect(empty.out).toBe('No play recorded.\n');
    const quiet = await run(['--since', '2h', '--state-dir', dir]);
    expect(quiet.out).toBe(`Play from ${h(2)} (2h ago) to now: 2h (--since 2h)\nNo play in this window.\n`);
    expect(await run(['--bogus'])).toEqual({ code: 2, out: '', err: 'pagecast report: unknown option --bogus (see pagecast report --help)\n' });
  });

  it('parses --since as a duration back from now or as a time', () => {
    expect(parseSince('24h', NOW.getTime())).toBe(NOW.getTime() - 86_400_000);
    expect(parseSince('2025-06-01', NOW.getTime())).toBe(Date.parse('2025-06-01'));
    expect(() => parseSince('2099-01-01', NOW.getTime())).toThrow(/in the future/);
    expect(() => parseSince('0s', NOW.getTime())).toThrow(/--since/);
  });

  it('is a pagecast command, in the help too', async () => {
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await main(['report', '--state-dir', dir])).toBe(0);
      expect(await main(['help'])).toBe(0);
      expect(out.mock.calls.map((c) => String(c[0])).join('')).toMatch(/\n {2}pagecast report +proof of play: uptime per spec and device\n/);
    } finally {
      out.mockRestore();
      err.mockRestore();
    }
  });
});
