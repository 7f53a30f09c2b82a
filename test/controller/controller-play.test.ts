// Proof of play through the controller, with stand-in components: the stream server's view is a
// map the test fills (the device's last segment fetch), the clock is the test's.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Controller } from '../../controller/controller.js';
import { playIntervals, readPlayLog, type PlayRecord } from '../../controller/status/play-log.js';
import { silentLogger } from '../../machines/log.js';
import { standInComponents, type StandIns } from '../stand-ins/components.js';
import { waitUntil } from '../helpers.js';

const spec = (name: string, url = 'https://ha.example/kitchen') => `apiVersion: pagecast/v1
kind: CastSpec
metadata:
  name: ${name}
spec:
  device: Kitchen TV
  url: ${url}
  policy:
    backoff: { initial: 20ms, max: 50ms }
`;

describe('controller: proof of play', () => {
  let dir: string;
  let state: string;
  let streams: string;
  let c: StandIns;
  let ctl: Controller;
  let clock: number;
  /** Last segment fetch by device address, as the stream server would record it. */
  const segments = new Map<string, string>();
  const phase = () => ctl.get('kitchen')?.phase;
  const tick = (ms: number) => (clock += ms);
  /** The device fetched a segment now. */
  const fetched = () => segments.set('kitchen-tv', new Date(clock).toISOString());
  const records = (): PlayRecord[] => {
    try {
      return readFileSync(join(state, 'play.jsonl'), 'utf8')
        .trimEnd()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as PlayRecord);
    } catch {
      return [];
    }
  };
  const closes = () => records().filter((r) => r.type === 'close') as Array<Extract<PlayRecord, { type: 'close' }>>;
  const opens = () => records().filter((r) => r.type === 'open') as Array<Extract<PlayRecord, { type: 'open' }>>;
  const iso = (ms: number) => new Date(ms).toISOString();

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pc-specs-'));
    state = mkdtempSync(join(tmpdir(), 'pc-state-'));
    streams = mkdtempSync(join(tmpdir(), 'pc-streams-'));
    c = standInComponents(streams);
    clock = Date.parse('2025-06-01T08:00:00.000Z');
    segments.clear();
    writeFileSync(join(dir, 'kitchen.yaml'), spec('kitchen'));
    ctl = new Controller({
      specsDir: dir,
      stateDir: state,
      components: c,
      log: silentLogger(),
      resyncMs: 60_000,
      now: () => new Date(clock),
      fetches: () => [...segments].map(([client, at]) => ({ client, lastSegmentAt: at, bytes: 1 })),
      playCheckMs: 5,
    });
    await ctl.start();
    await waitUntil(() => phase() === 'Playing', 5000, 'Playing');
  });
  afterEach(async () => {
    await ctl?.stop();
    for (const d of [dir, state, streams]) rmSync(d, { recursive: true, force: true });
  });

  /** Waits for the device to play again and confirms it with a fetch; returns the interval's start. */
  const playAgain = async (): Promise<number> => {
    await waitUntil(() => phase() === 'Playing', 5000, 'Playing again');
    tick(1000);
    fetched();
    const before = opens().length;
    await waitUntil(() => opens().length > before, 5000, () => `an open, with ${JSON.stringify(records())}`);
    return Date.parse(opens().at(-1)!.start);
  };

  it('opens on PLAYING plus a segment fetch, checkpoints, and closes with why it ended', async () => {
    // PLAYING, but no fetch since: not proof of play yet.
    await new Promise((r) => setTimeout(r, 50));
    expect(records()).toEqual([]);

    tick(1000);
    fetched();
    const start = clock;
    await waitUntil(() => opens().length === 1, 5000, 'open');
    expect(opens()[0]).toEqual({ v: 1, type: 'open', spec: 'kitchen', device: 'Kitchen TV', start: iso(start), at: iso(start) });

    // A minute on, still fetching: one checkpoint.
    tick(61_000);
    fetched();
    await waitUntil(() => opens().length === 2, 5000, 'checkpoint');
    expect(opens()[1]).toEqual(expect.objectContaining({ start: iso(start), at: iso(clock) }));

    // Someone presses stop on the TV.
    tick(1000);
    const drift = clock;
    c.castDriver.connectionTo('kitchen-tv')!.drift({ type: 'IDLE', idleReason: 'CANCELLED' });
    await waitUntil(() => closes().length === 1, 5000, 'close');
    expect(closes()[0]).toEqual({ v: 1, type: 'close', spec: 'kitchen', device: 'Kitchen TV', start: iso(start), end: iso(drift), reason: 'IdleCancelled' });

    // Recovered by a new LOAD, then the device stops fetching: NoFetches, ended at the last fetch.
    await playAgain();
    const lastFetch = clock;
    tick(10_000);
    await waitUntil(() => closes().length === 2, 5000, 'NoFetches close');
    expect(closes()[1]).toEqual(expect.objectContaining({ reason: 'NoFetches', end: iso(lastFetch) }));

    // Fetching again, then suspended.
    tick(1000);
    fetched();
    await waitUntil(() => opens().length === 4, 5000, 'open after fetches resume');
    await ctl.suspend('kitchen');
    await waitUntil(() => closes().length === 3, 5000, 'Suspended close');
    expect(closes()[2]!.reason).toBe('Suspended');
    // Nothing may play now: the periodic check stops (a reconcile starts it again).
    await waitUntil(() => (ctl as unknown as { playTimer?: unknown }).playTimer === undefined, 5000, 'the play check to stop');

    // Resumed and playing (a fetch later than the new PLAYING): a graceful stop closes it with Shutdown.
    tick(1000);
    await ctl.resume('kitchen');
    await playAgain();
    await ctl.stop();
    expect(closes().map((x) => x.reason)).toEqual(['IdleCancelled', 'NoFetches', 'Suspended', 'Shutdown']);
    // Every open has its close: nothing for a reader to count as ControllerDied.
    const read = await readPlayLog(state);
    expect(read.warnings).toEqual([]);
    expect(playIntervals(read.records).map((i) => i.reason)).toEqual(['IdleCancelled', 'NoFetches', 'Suspended', 'Shutdown']);
  });

  it('a killed controller leaves an open without a close: play until its last checkpoint, ControllerDied', async () => {
    const start = await playAgain();
    tick(61_000);
    fetched();
    await waitUntil(() => opens().length === 2, 5000, 'checkpoint');
    const checkpoint = clock;
    // What a SIGKILL leaves: the file as it is now, with a line cut short at its end.
    const killed = join(state, 'killed');
    mkdirSync(killed);
    copyFileSync(join(state, 'play.jsonl'), join(killed, 'play.jsonl'));
    writeFileSync(join(killed, 'play.jsonl'), `${readFileSync(join(killed, 'play.jsonl'), 'utf8')}{"v":1,"type":"op`);
    const read = await readPlayLog(killed);
    expect(read.warnings).toEqual([expect.stringMatching(/play\.jsonl:3: skipped: not valid JSON/)]);
    expect(playIntervals(read.records)).toEqual([{ spec: 'kitchen', device: 'Kitchen TV', start, end: checkpoint, reason: 'ControllerDied' }]);
  });

  it('names a new stream (url edited) and a removed spec', async () => {
    await playAgain();
    const conn = c.castDriver.connectionTo('kitchen-tv')!;
    tick(1000); // the next PLAYING begins after the last fetch
    writeFileSync(join(dir, 'kitchen.yaml'), spec('kitchen', 'https://ha.example/other'));
    await waitUntil(() => conn.loads.length === 2, 5000, 'second LOAD');
    await waitUntil(() => closes().length === 1, 5000, 'StreamChanged close');
    expect(closes()[0]!.reason).toBe('StreamChanged');
    await playAgain();
    unlinkSync(join(dir, 'kitchen.yaml'));
    await waitUntil(() => closes().length === 2, 5000, 'SpecRemoved close');
    expect(closes()[1]!.reason).toBe('SpecRemoved');
  });
});
