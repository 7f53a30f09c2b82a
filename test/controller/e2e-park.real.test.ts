// End to end: a device that is away costs nothing. Real Xvfb + Chromium + FFmpeg + stream server +
// castv2 sender against fake TVs that go unreachable or into standby. After policy.parkAfter the
// stream's processes are gone and status says why and since when; when the device answers again
// it plays within 5 s. A stream another spec's present device still casts keeps running.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, specYaml, gone, type Harness } from '../harness.js';
import type { FakeCastDevice } from '../fake-device/device.js';
import { waitUntil } from '../helpers.js';

const PARK_AFTER_MS = 3000;
/** The spec's policy already has a backoff; parkAfter is added to it. */
const PARK_POLICY = `    parkAfter: ${PARK_AFTER_MS / 1000}s\n`;
const BACK_TO_PLAYING_MS = 5000;

describe('a device that is away costs nothing (real pipeline, fake TVs)', () => {
  let h: Harness;
  const timings: Record<string, number> = {};

  beforeAll(async () => {
    h = await startHarness();
  });
  // A test that failed half-way leaves its specs playing: remove them, so the next test starts
  // from nothing (its "no process left" would otherwise see them).
  afterEach(async () => {
    const left = h.controller.list().map((st) => `${st.name}.yaml`);
    for (const f of left) h.removeSpec(f);
    await waitUntil(() => h.controller.list().length === 0 && h.pids().length === 0, 30_000, 'what a failed test left gone');
  });
  afterAll(async () => {
    await h?.close();
    console.log('e2e park timings (ms):', JSON.stringify(timings));
  });

  const status = (name: string) => h.controller.get(name);
  const pipelinePids = () => h.runtime.registry.list().filter((r) => /ffmpeg|xvfb|chrom/i.test(r.name)).map((r) => r.pid);

  /** PLAYING with decoded frames on a player that a LOAD after `loadsBefore` started. */
  const playingAfter = (tv: FakeCastDevice, loadsBefore: number) => () => {
    const s = tv.status();
    return tv.count('LOAD') > loadsBefore && s.media?.playerState === 'PLAYING' && (s.player?.framesDecoded ?? 0) > 0;
  };

  async function playing(tv: FakeCastDevice, name: string): Promise<void> {
    await waitUntil(playingAfter(tv, 0), 60_000, `${name} PLAYING with decoded frames`);
    await waitUntil(() => status(name)?.phase === 'Playing', 15_000, `${name} phase Playing`);
  }

  /** Parked: status says why and since when, and none of the stream's processes is left. */
  async function parked(name: string, reason: string, pids: number[]): Promise<void> {
    await waitUntil(() => status(name)?.phase === 'Parked', 30_000, () => `${name} Parked (phase ${status(name)?.phase})`);
    const s = status(name)!;
    expect(s.parked).toMatchObject({ reason, streamStopped: expect.any(Boolean) });
    // Parked parkAfter after the device went away. Node schedules a timer from the event loop's
    // cached time, which lags the wall clock by up to one loop turn: so much earlier is allowed.
    const waited = Date.parse(s.parked!.since) - Date.parse(s.parked!.awaySince);
    expect(waited).toBeGreaterThanOrEqual(PARK_AFTER_MS - 100);
    expect(waited).toBeLessThan(PARK_AFTER_MS + 1000);
    expect(s.conditions.find((c) => c.type === 'Parked')).toMatchObject({ status: 'True', reason });
    await waitUntil(() => pids.every(gone) && h.runtime.registry.list().length === 0, 20_000, () => `no process left (${JSON.stringify(h.runtime.registry.list())})`);
    expect(status(name)!.parked!.streamStopped).toBe(true);
  }

  /** Back within 5 s of `answeredAt`; then frames go on arriving from the new encoder. */
  async function backWithin5s(tv: FakeCastDevice, name: string, loadsBefore: number, answeredAt: number, what: string): Promise<void> {
    await waitUntil(playingAfter(tv, loadsBefore), 30_000, `${name} PLAYING again`);
    const ms = Date.now() - answeredAt;
    timings[what] = ms;
    expect(ms, `${what}: device answering → PLAYING with decoded frames`).toBeLessThan(BACK_TO_PLAYING_MS);
    const segments = tv.status().player!.segmentsDecoded;
    await waitUntil(() => tv.status().player!.segmentsDecoded >= segments + 2 && tv.status().media?.playerState === 'PLAYING', 20_000, 'frames advancing');
    await waitUntil(() => status(name)?.phase === 'Playing' && status(name)?.parked === undefined, 10_000, `${name} phase Playing`);
  }

  async function removeAll(...files: string[]): Promise<void> {
    for (const f of files) h.removeSpec(f);
    await waitUntil(() => files.every((f) => status(f.replace('.yaml', '')) === undefined) && h.pids().length === 0, 30_000, 'specs gone');
  }

  it('unreachable: parked after parkAfter (no process left); plays within 5 s of the device answering again', async () => {
    const tv = await h.device('Unplugged TV');
    h.writeSpec('unplugged.yaml', specYaml('unplugged', `{ host: 127.0.0.1, port: ${tv.port} }`, h.page.url, PARK_POLICY));
    await playing(tv, 'unplugged');
    const pids = pipelinePids();
    expect(pids.length).toBeGreaterThanOrEqual(3); // Xvfb, Chromium, FFmpeg

    await tv.powerOff();
    await parked('unplugged', 'Unreachable', pids);

    const accepted = tv.acceptedAt.length;
    const loads = tv.count('LOAD');
    await tv.powerOn();
    // Probed with a backoff of at most 4 s here (30 s at most with the defaults).
    await waitUntil(() => tv.acceptedAt.length > accepted, 15_000, 'the controller reconnecting');
    await backWithin5s(tv, 'unplugged', loads, tv.acceptedAt[accepted]!, 'unreachableBackToPlaying');
    await removeAll('unplugged.yaml');
  });

  it('standby: parked after parkAfter; plays within 5 s of standby off', async () => {
    const tv = await h.device('Sleepy TV');
    h.writeSpec('sleepy.yaml', specYaml('sleepy', `{ host: 127.0.0.1, port: ${tv.port} }`, h.page.url, PARK_POLICY));
    await playing(tv, 'sleepy');
    const pids = pipelinePids();

    await tv.standby(true);
    await parked('sleepy', 'Standby', pids);
    expect(status('sleepy')!.parked!.message).toMatch(/standby/);

    const loads = tv.count('LOAD');
    const wokeAt = Date.now();
    await tv.standby(false);
    await backWithin5s(tv, 'sleepy', loads, wokeAt, 'standbyBackToPlaying');
    await removeAll('sleepy.yaml');
  });

  it('two specs share a stream and one device goes away: the stream keeps running for the other', async () => {
    const away = await h.device('Away TV');
    const present = await h.device('Present TV');
    h.writeSpec('away.yaml', specYaml('away', `{ host: 127.0.0.1, port: ${away.port} }`, h.page.url, PARK_POLICY));
    h.writeSpec('present.yaml', specYaml('present', `{ host: 127.0.0.1, port: ${present.port} }`, h.page.url, PARK_POLICY));
    await playing(away, 'away');
    await playing(present, 'present');
    expect(status('away')!.stream!.id).toBe(status('present')!.stream!.id);
    const pids = pipelinePids();

    await away.powerOff();
    await waitUntil(() => status('away')?.phase === 'Parked', 30_000, 'away Parked');
    expect(status('away')!.parked).toMatchObject({ reason: 'Unreachable', streamStopped: false });
    // The present TV goes on decoding new segments from the same processes.
    const segments = present.status().player!.segmentsDecoded;
    await waitUntil(() => present.status().player!.segmentsDecoded >= segments + 2, 20_000, 'present TV still decoding');
    expect(present.status().media?.playerState).toBe('PLAYING');
    expect(status('present')!.phase).toBe('Playing');
    expect(pids.every((p) => !gone(p))).toBe(true);
    expect(pipelinePids().sort()).toEqual([...pids].sort());

    // The present one goes too: now the stream parks; the first back resumes it.
    await present.standby(true);
    await parked('present', 'Standby', pids);
    const accepted = away.acceptedAt.length;
    const loads = away.count('LOAD');
    await away.powerOn();
    await waitUntil(() => away.acceptedAt.length > accepted, 15_000, 'the controller reconnecting');
    await backWithin5s(away, 'away', loads, away.acceptedAt[accepted]!, 'sharedBackToPlaying');
    expect(status('present')!.phase).toBe('Parked'); // its TV still sleeps; the stream runs for the other
    expect(status('present')!.parked!.streamStopped).toBe(false);
    await removeAll('away.yaml', 'present.yaml');
  });
});
