// Several devices: one page on three TVs is one stream and three casts; two specs on one TV
// follow arbitration; an ephemeral cast preempts and gives the TV back when it expires.
// The harness is shared by the file; each test brings the three shops to playing itself.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, specYaml, waitPlaying, type Harness } from '../harness.js';
import type { FakeCastDevice } from '../fake-device/device.js';
import { waitUntil } from '../helpers.js';

describe('a fleet of fake TVs, real pipeline', () => {
  let h: Harness;
  let tvs: FakeCastDevice[];

  beforeAll(async () => {
    h = await startHarness();
    tvs = [await h.device('Shop 1'), await h.device('Shop 2'), await h.device('Shop 3')];
  });
  afterAll(async () => {
    await h?.close();
  });

  /** The three shop specs written (the same text again changes nothing) and all three TVs playing. */
  async function shopsPlaying(): Promise<void> {
    tvs.forEach((tv, i) => h.writeSpec(`shop-${i}.yaml`, specYaml(`shop-${i}`, `{ host: 127.0.0.1, port: ${tv.port} }`, h.page.url)));
    for (const tv of tvs) await waitPlaying(tv, 60_000);
  }

  it('one page on three devices is one stream (one FFmpeg, one Chromium) and three casts', async () => {
    await shopsPlaying();
    const names = h.runtime.registry.list().map((r) => r.name);
    expect(names.filter((n) => /ffmpeg/i.test(n))).toHaveLength(1);
    expect(names.filter((n) => /xvfb/i.test(n))).toHaveLength(1);
    const st = h.controller.get('shop-0')!;
    expect(st.stream!.sharedWith.sort()).toEqual(['shop-1', 'shop-2']);
    // The stream server saw one client per TV: all three are really fetching.
    await waitUntil(() => (h.controller.get('shop-0')!.stream!.fetches.length ?? 0) >= 1, 10_000, 'fetch stats');
  });

  it('a higher-priority ephemeral cast preempts a TV and gives it back when it expires', async () => {
    await shopsPlaying();
    await waitUntil(() => h.controller.get('shop-0')?.phase === 'Playing', 30_000, 'shop-0 Playing');
    const tv = tvs[0]!;
    const { name } = await h.controller.createCast({
      device: { host: '127.0.0.1', port: tv.port },
      url: `${h.page.url}?doorbell`,
      quality: '480p',
      duration: '25s',
    });
    await waitUntil(() => h.controller.get(name)?.phase === 'Playing' && h.controller.get('shop-0')?.phase === 'Preempted', 60_000, 'doorbell plays');
    await waitUntil(() => String((tv.loads().at(-1) as { media: { contentId: string } }).media.contentId) !== '', 1000);
    await waitPlaying(tv);
    // The other two TVs keep playing the shared stream.
    expect(h.controller.get('shop-1')!.phase).toBe('Playing');
    await waitUntil(() => h.controller.get(name) === undefined && h.controller.get('shop-0')?.phase === 'Playing', 60_000, 'cast expired, shop-0 back');
    await waitPlaying(tv);
  });

  it('two specs on one device: equal priority keeps the holder and reports DeviceConflict', async () => {
    await shopsPlaying();
    await waitUntil(() => h.controller.get('shop-1')?.phase === 'Playing', 30_000, 'shop-1 Playing');
    h.writeSpec('rival.yaml', specYaml('rival', `{ host: 127.0.0.1, port: ${tvs[1]!.port} }`, `${h.page.url}?rival`));
    try {
      await waitUntil(() => h.controller.get('rival')?.conditions.some((c) => c.type === 'DeviceConflict' && c.status === 'True'), 15_000, 'conflict');
      expect(h.controller.get('shop-1')!.phase).toBe('Playing');
    } finally {
      h.removeSpec('rival.yaml');
    }
  });
});
