// End to end: real Xvfb + Chromium + FFmpeg + stream server + castv2 sender, against the fake
// Cast device that really fetches and decodes the stream. One stream at a time.
// The harness (runtime, controller, TV) is shared by the file; each test sets up the state it
// needs (no spec, or the spec playing), so any one of them runs alone with -t.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_MEDIA_RECEIVER } from '../../machines/cast/messages.js';
import { startHarness, specYaml, gone, waitPlaying, type Harness } from '../harness.js';
import type { FakeCastDevice } from '../fake-device/device.js';
import { waitUntil } from '../helpers.js';

describe('one spec, one fake TV, real pipeline', () => {
  let h: Harness;
  let tv: FakeCastDevice;
  const phase = () => h.controller.get('kitchen')?.phase;
  const specWritten = () => existsSync(join(h.dir, 'kitchen.yaml'));
  const timings: Record<string, number> = {};

  beforeAll(async () => {
    h = await startHarness();
    tv = await h.device('Kitchen TV', { mdns: true });
  });
  afterAll(async () => {
    await h?.close();
    console.log('e2e timings (ms):', JSON.stringify(timings));
  });

  /** The TV as a person would leave it: awake, no other app or ambient screen in front. */
  async function tvFree(): Promise<void> {
    if (tv.status().standby) await tv.standby(false);
    const app = tv.status().app;
    if (app && app.appId !== DEFAULT_MEDIA_RECEIVER) await tv.remoteStop();
  }

  /** No kitchen spec, nothing of it running, nothing on the TV. */
  async function noSpec(): Promise<void> {
    if (specWritten()) h.removeSpec('kitchen.yaml');
    await waitUntil(() => h.controller.get('kitchen') === undefined && h.pids().length === 0, 30_000, 'no kitchen spec and no process');
    await tvFree();
    await waitUntil(() => tv.status().media === undefined, 15_000, 'no media on the TV');
  }

  /** The kitchen spec playing on the TV with decoded frames; at once when it already is. */
  async function playing(): Promise<void> {
    await tvFree();
    if (!specWritten()) h.writeSpec('kitchen.yaml', specYaml('kitchen', 'Kitchen TV', h.page.url));
    await waitPlaying(tv, 60_000);
    await waitUntil(() => phase() === 'Playing', 30_000, 'phase Playing');
  }

  describe('from no spec', () => {
    beforeEach(noSpec);

    it('writing a spec file (device found by name over loopback mDNS) brings the TV to PLAYING with decoded frames', async () => {
      const loads = tv.count('LOAD');
      const t0 = Date.now();
      h.writeSpec('kitchen.yaml', specYaml('kitchen', 'Kitchen TV', h.page.url));
      await waitPlaying(tv, 45_000);
      timings.specToPlaying = Date.now() - t0;
      await waitUntil(() => phase() === 'Playing', 10_000, 'phase Playing');
      const load = tv.loads()[loads] as { media: Record<string, unknown> };
      expect(load.media.streamType).toBe('LIVE');
      expect(load.media.hlsSegmentFormat).toBe('ts');
      expect(load.media.hlsVideoSegmentFormat).toBe('mpeg2_ts');
      const st = h.controller.get('kitchen')!;
      expect(st.conditions.find((c) => c.type === 'DeviceFound')?.status).toBe('True');
      expect(st.stream?.encoder).toBe('libx264');
      // Proof of life from the server side: the device's address fetched playlist and segments.
      await waitUntil(() => h.controller.get('kitchen')?.deviceLastFetch?.segment, 10_000, 'server saw the device fetch');
      await waitUntil(() => h.controller.get('kitchen')?.stream?.figures?.fps, 10_000, 'live encoder figures');
    });
  });

  describe('while the spec plays', () => {
    beforeEach(playing);

    it('a stop from the remote (IDLE) is repaired with a new LOAD of the same stream, no encoder restart', async () => {
      const loads = tv.count('LOAD');
      const encoderPids = h.pids();
      const t0 = Date.now();
      await tv.remoteStop();
      await waitUntil(() => tv.count('LOAD') > loads, 15_000, 'a new LOAD');
      await waitPlaying(tv);
      timings.idleToPlaying = Date.now() - t0;
      expect(h.pids()).toEqual(encoderPids);
      expect(h.controller.get('kitchen')!.lastDrift?.reason).toMatch(/Idle|SessionEnded/);
    });

    it('a dropped connection is re-dialled and re-joined without a new LOAD (no blank screen)', async () => {
      const loads = tv.count('LOAD');
      const driftBefore = h.controller.get('kitchen')!.lastDrift?.at;
      const t0 = Date.now();
      await tv.dropConnections();
      await waitUntil(() => {
        const drift = h.controller.get('kitchen')!.lastDrift;
        return tv.status().connections > 0 && phase() === 'Playing' && drift?.at !== driftBefore && drift?.reason === 'ConnectionLost';
      }, 15_000, 're-joined');
      timings.reconnectToPlaying = Date.now() - t0;
      expect(tv.count('LOAD')).toBe(loads);
      expect(tv.status().media?.playerState).toBe('PLAYING');
    });

    it('FFmpeg killed: the stream restarts the encoder and the TV plays on', async () => {
      const ffmpeg = h.runtime.registry.list().find((r) => /ffmpeg/.test(r.name));
      expect(ffmpeg).toBeDefined();
      const t0 = Date.now();
      const decodedBefore = tv.status().player?.segmentsDecoded ?? 0;
      const restartsBefore = h.controller.get('kitchen')!.restarts;
      process.kill(ffmpeg!.pid, 'SIGKILL');
      await waitUntil(() => h.runtime.registry.list().some((r) => /ffmpeg/.test(r.name) && r.pid !== ffmpeg!.pid), 15_000, 'new ffmpeg');
      await waitUntil(() => (tv.status().player?.segmentsDecoded ?? 0) > decodedBefore + 1 && tv.status().media?.playerState === 'PLAYING', 30_000, 'playing after the encoder restart');
      timings.encoderKillToPlaying = Date.now() - t0;
      expect(h.controller.get('kitchen')!.restarts).toBeGreaterThan(restartsBefore);
    });

    it('another app on the TV is waited out (onOtherApp: wait) and the cast comes back when it is free', async () => {
      await tv.takeover('233637DE');
      await waitUntil(() => phase() === 'Waiting', 15_000, 'Waiting');
      const loads = tv.count('LOAD');
      expect(tv.count('LAUNCH')).toBeGreaterThan(0);
      await tv.remoteStop(); // the person stops YouTube
      await waitUntil(() => tv.count('LOAD') > loads, 20_000, 'LOAD after the device is free');
      await waitPlaying(tv);
    });

    it('the ambient screen and standby are drift: re-LOADed when the TV wakes', async () => {
      const loads = tv.count('LOAD');
      await tv.idleScreen();
      await waitUntil(() => tv.count('LOAD') > loads, 15_000, 'LOAD after ambient');
      await waitPlaying(tv);
      await tv.standby(true);
      await waitUntil(() => phase() === 'Waiting', 15_000, 'Waiting in standby');
      const before = tv.count('LOAD');
      await tv.standby(false);
      await waitUntil(() => tv.count('LOAD') > before || phase() === 'Playing', 15_000, 'back after standby');
      await waitPlaying(tv);
    });

    it('a rebooted device (connection refused for a while) is reconnected and played again', async () => {
      const loads = tv.count('LOAD');
      await tv.reboot({ downMs: 1500 });
      await waitUntil(() => tv.count('LOAD') > loads, 30_000, 'LOAD after reboot');
      await waitPlaying(tv);
    });

    it('a device whose address changed is found again over mDNS and played', async () => {
      const moved = await h.device('Kitchen TV', { mdns: true, id: tv.id });
      expect(moved.port).not.toBe(tv.port);
      await tv.stop(); // the old address goes dark (and stops answering mDNS)
      tv = moved;
      await waitPlaying(tv, 45_000);
      expect(h.controller.get('kitchen')!.conditions.find((c) => c.type === 'DeviceFound')?.message).toBe(`127.0.0.1:${tv.port}`);
    });

    it('deleting the spec sends STOP to the TV and leaves no process', async () => {
      const pids = h.pids();
      expect(pids.length).toBeGreaterThanOrEqual(3);
      const stops = tv.count('STOP');
      h.removeSpec('kitchen.yaml');
      await waitUntil(() => tv.count('STOP') > stops, 15_000, 'STOP on the device');
      await waitUntil(() => pids.every(gone) && h.pids().length === 0, 20_000, 'every process gone');
      expect(h.controller.get('kitchen')).toBeUndefined();
    });
  });
});
