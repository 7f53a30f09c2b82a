import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../machines/log.js';
import {
  PLAY_CHECKPOINT_MS,
  PlayLogWriter,
  PlayTracker,
  playIntervals,
  playLogPath,
  playReport,
  readPlayLog,
  type PlayObservation,
  type PlayRecord,
} from '../../../controller/status/play-log.js';

const T0 = Date.parse('2025-06-01T08:00:00.000Z');
const at = (s: number) => T0 + s * 1000;
const iso = (s: number) => new Date(at(s)).toISOString();

/** Kitchen playing since `since` s, its last segment fetched at `seg` s. */
const obs = (o: Partial<PlayObservation> & { since?: number; seg?: number } = {}): PlayObservation => ({
  spec: 'kitchen',
  device: 'Kitchen TV',
  phase: 'Playing',
  streamId: 'st1',
  playingSince: o.since === undefined ? at(0) : at(o.since),
  lastSegmentAt: o.seg === undefined ? undefined : at(o.seg),
  ...o,
});

describe('PlayTracker', () => {
  it('opens only once a segment is fetched after PLAYING began, checkpoints every minute, closes with the drift reason', () => {
    const t = new PlayTracker();
    expect(t.observe([obs({ seg: -3 })], at(1))).toEqual([]); // fetched before PLAYING only
    expect(t.observe([obs({ phase: 'Starting', playingSince: undefined, seg: 2 })], at(2))).toEqual([]);
    expect(t.observe([obs({ seg: 2 })], at(3))).toEqual([{ v: 1, type: 'open', spec: 'kitchen', device: 'Kitchen TV', start: iso(2), at: iso(2) }]);
    expect(t.observe([obs({ seg: 30 })], at(31))).toEqual([]);
    expect(t.observe([obs({ seg: 62 })], at(63))).toEqual([{ v: 1, type: 'open', spec: 'kitchen', device: 'Kitchen TV', start: iso(2), at: iso(63) }]);
    expect(t.observe([obs({ seg: 64 })], at(65))).toEqual([]);
    const r = t.observe([obs({ phase: 'Recovering', playingSince: undefined, seg: 70, drift: { reason: 'IdleCancelled', at: at(71) } })], at(72));
    expect(r).toEqual([{ v: 1, type: 'close', spec: 'kitchen', device: 'Kitchen TV', start: iso(2), end: iso(71), reason: 'IdleCancelled' }]);
    expect(t.openCount).toBe(0);
  });

  it('closes with NoFetches at the last segment when the device says PLAYING but fetches nothing', () => {
    const t = new PlayTracker();
    t.observe([obs({ seg: 1 })], at(1));
    expect(t.observe([obs({ seg: 1 })], at(7))).toEqual([]); // 6 s: within the stall limit
    expect(t.observe([obs({ seg: 1 })], at(9))).toEqual([expect.objectContaining({ type: 'close', end: iso(1), reason: 'NoFetches' })]);
    // Fetching again: a new interval.
    expect(t.observe([obs({ seg: 12 })], at(12))).toEqual([expect.objectContaining({ type: 'open', start: iso(12) })]);
  });

  it('names an assignment change, a stream change, a device change, a removed spec and a restart', () => {
    const cases: Array<[Partial<PlayObservation> | undefined, string]> = [
      [{ off: 'Suspended' }, 'Suspended'],
      [{ off: 'Scheduled' }, 'Scheduled'],
      [{ off: 'Preempted', phase: 'Preempted', playingSince: undefined }, 'Preempted'],
      [{ off: 'Parked', phase: 'Waiting', playingSince: undefined }, 'Parked'],
      [{ streamId: 'st2', phase: 'Starting', playingSince: undefined }, 'StreamChanged'],
      [{ device: 'Hall TV' }, 'DeviceChanged'],
      [undefined, 'SpecRemoved'],
      [{ playingSince: at(20), lastSegmentAt: at(21) }, 'Restarted'],
      [{ phase: 'Stopped', playingSince: undefined }, 'Stopped'],
    ];
    for (const [change, reason] of cases) {
      const t = new PlayTracker();
      t.observe([obs({ seg: 1 })], at(1));
      const r = t.observe(change ? [obs({ seg: 21, ...change })] : [], at(22));
      expect(r[0], reason).toEqual(expect.objectContaining({ type: 'close', reason, end: iso(22) }));
    }
  });

  it('a drift older than this play is not why it ended', () => {
    const t = new PlayTracker();
    t.observe([obs({ since: 10, seg: 11, drift: { reason: 'ConnectionLost', at: at(5) } })], at(11));
    const r = t.observe([obs({ phase: 'Stopped', playingSince: undefined, drift: { reason: 'ConnectionLost', at: at(5) } })], at(20));
    expect(r).toEqual([expect.objectContaining({ type: 'close', reason: 'Stopped' })]);
  });

  it('closes everything with the given reason on a graceful stop', () => {
    const t = new PlayTracker();
    t.observe([obs({ seg: 1 }), obs({ spec: 'hall', device: 'Hall TV', seg: 1 })], at(1));
    const r = t.closeAll('Shutdown', at(5));
    expect(r.map((x) => x.type === 'close' && [x.spec, x.reason, x.end])).toEqual([
      ['kitchen', 'Shutdown', iso(5)],
      ['hall', 'Shutdown', iso(5)],
    ]);
  });
});

describe('play log files', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'pc-play-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const open = (spec: string, start: number, atS = start): PlayRecord => ({ v: 1, type: 'open', spec, device: 'TV', start: iso(start), at: iso(atS) });
  const close = (spec: string, start: number, end: number, reason: string): PlayRecord => ({ v: 1, type: 'close', spec, device: 'TV', start: iso(start), end: iso(end), reason });

  it('appends one JSON line per record and rotates by size, keeping N old files; the reader reads them all, oldest first', async () => {
    const w = new PlayLogWriter({ dir, log: silentLogger(), maxBytes: 300, keep: 2 });
    for (let i = 0; i < 12; i++) await w.append([open('kitchen', i * 100), close('kitchen', i * 100, i * 100 + 50, 'IdleCancelled')]);
    expect(readdirSync(dir).sort()).toEqual(['play.1.jsonl', 'play.2.jsonl', 'play.jsonl']);
    for (const f of readdirSync(dir)) {
      for (const line of readFileSync(join(dir, f), 'utf8').trimEnd().split('\n')) expect(() => JSON.parse(line)).not.toThrow();
    }
    const read = await readPlayLog(dir);
    expect(read.files.map((f) => f.slice(dir.length + 1))).toEqual(['play.2.jsonl', 'play.1.jsonl', 'play.jsonl']);
    expect(read.warnings).toEqual([]);
    const starts = read.records.filter((r) => r.type === 'close').map((r) => Date.parse(r.start));
    expect(starts).toEqual([...starts].sort((a, b) => a - b)); // oldest first
    expect(starts.at(-1)).toBe(at(1100));
  });

  it('skips a corrupt line with a warning naming file and line, and reads the rest', async () => {
    const path = playLogPath(dir);
    writeFileSync(path, `${JSON.stringify(open('kitchen', 0))}\n{"v":1,"type":"open","spec":"hall"}\nnot json\n${JSON.stringify(close('kitchen', 0, 60, 'Standby'))}\n{"v":1,"type":"clo`);
    const read = await readPlayLog(dir);
    expect(read.records).toHaveLength(2);
    expect(read.warnings).toEqual([
      expect.stringMatching(new RegExp(`^${path}:2: skipped: not a play record: device`)),
      expect.stringMatching(new RegExp(`^${path}:3: skipped: not valid JSON`)),
      expect.stringMatching(new RegExp(`^${path}:5: skipped: not valid JSON \\(a line cut short`)),
    ]);
  });

  it('names the directory when it does not exist; an empty directory is an empty log', async () => {
    await expect(readPlayLog(join(dir, 'nope'))).rejects.toThrow(`state directory ${join(dir, 'nope')}: no such directory`);
    expect(await readPlayLog(dir)).toEqual({ records: [], files: [], warnings: [] });
  });

  it('a writer that cannot write logs and carries on', async () => {
    const warnings: string[] = [];
    const log = { ...silentLogger(), warn: (_o: unknown, msg: string) => warnings.push(msg), info: () => undefined } as unknown as ReturnType<typeof silentLogger>;
    const w = new PlayLogWriter({ dir: join(dir, 'missing'), log });
    await w.append([open('kitchen', 0)]);
    await w.append([open('kitchen', 0, 60)]);
    expect(warnings).toEqual([expect.stringMatching(/play log write failed/)]);
  });

  it('appends to what a previous run left, and counts its size', async () => {
    appendFileSync(playLogPath(dir), `${JSON.stringify(open('kitchen', 0))}\n`.repeat(4));
    const w = new PlayLogWriter({ dir, log: silentLogger(), maxBytes: 500 });
    await w.append([close('kitchen', 0, 10, 'Shutdown')]);
    expect(readdirSync(dir).sort()).toEqual(['play.1.jsonl', 'play.jsonl']);
  });
});

describe('intervals and the report', () => {
  const open = (spec: string, start: number, atS = start, device = 'TV'): PlayRecord => ({ v: 1, type: 'open', spec, device, start: iso(start), at: iso(atS) });
  const close = (spec: string, start: number, end: number, reason: string, device = 'TV'): PlayRecord => ({ v: 1, type: 'close', spec, device, start: iso(start), end: iso(end), reason });

  it('merges opens and closes; an open without a close is play until its last checkpoint, ended by ControllerDied', () => {
    const ivs = playIntervals([open('a', 0), open('a', 0, 60), close('a', 0, 100, 'IdleCancelled'), open('a', 200), open('a', 200, 260), open('a', 200, 320)]);
    expect(ivs).toEqual([
      { spec: 'a', device: 'TV', start: at(0), end: at(100), reason: 'IdleCancelled' },
      { spec: 'a', device: 'TV', start: at(200), end: at(320), reason: 'ControllerDied' },
    ]);
  });

  it('a close whose open was rotated away still counts; a dead open never runs past the next start', () => {
    const ivs = playIntervals([close('a', 0, 50, 'Standby'), open('a', 100, 400), open('a', 300), close('a', 300, 500, 'Shutdown')]);
    expect(ivs.map((i) => [i.start, i.end, i.reason])).toEqual([
      [at(0), at(50), 'Standby'],
      [at(100), at(300), 'ControllerDied'],
      [at(300), at(500), 'Shutdown'],
    ]);
  });

  it('an open whose checkpoint is recent is still playing only while a controller runs', () => {
    const recs = [open('a', 0), open('a', 0, 60)];
    expect(playIntervals(recs, { now: at(90), live: true })).toEqual([{ spec: 'a', device: 'TV', start: at(0), end: at(90) }]);
    expect(playIntervals(recs, { now: at(90), live: false })[0]).toEqual(expect.objectContaining({ end: at(60), reason: 'ControllerDied' }));
    expect(playIntervals(recs, { now: at(60 + 3 * PLAY_CHECKPOINT_MS / 1000), live: true })[0]).toEqual(expect.objectContaining({ reason: 'ControllerDied' }));
  });

  it('uptime per spec and device over the window, clipped, overlaps counted once, interruptions by reason', () => {
    const ivs = playIntervals([
      close('kitchen', -100, 100, 'IdleCancelled'), // clipped to [0, 100]
      close('kitchen', 150, 300, 'NoFetches'),
      close('kitchen', 250, 350, 'NoFetches'), // overlaps the one before
      close('kitchen', 400, 1000, 'Shutdown'), // runs past the window's end: not an interruption in it
      close('hall', 0, 500, 'Standby', 'Hall TV'),
      close('old', -500, -200, 'Standby'), // before the window
    ]);
    const r = playReport(ivs, { since: at(0), until: at(1000) - 1 });
    expect(r.windowSeconds).toBe(1000);
    expect(r.rows).toEqual([
      { spec: 'hall', device: 'Hall TV', uptime: expect.closeTo(0.5, 3), playedSeconds: 500, intervals: 1, interruptions: { Standby: 1 }, playing: false },
      { spec: 'kitchen', device: 'TV', uptime: expect.closeTo(0.9, 3), playedSeconds: 900, intervals: 4, interruptions: { IdleCancelled: 1, NoFetches: 2 }, playing: false },
    ]);
  });
});
