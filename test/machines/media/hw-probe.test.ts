import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseEncoderList, probeEncoder } from '../../../machines/media/hw-probe.js';

const fixtures = join(import.meta.dirname, '../../fixtures/media');
const tmp = mkdtempSync(join(tmpdir(), 'pagecast-probe-'));
const fakeDri = join(tmp, 'renderD128');
writeFileSync(fakeDri, '');
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('parseEncoderList', () => {
  it('reads encoder names and skips the legend', () => {
    const names = parseEncoderList('Encoders:\n V..... = Video\n ------\n V....D libx264   H.264\n A....D aac  AAC\n V....D h264_vaapi  VAAPI\n');
    expect([...names]).toEqual(['libx264', 'aac', 'h264_vaapi']);
  });
});

describe('probeEncoder', () => {
  it('off is libx264 without asking FFmpeg', async () => {
    expect(await probeEncoder('off', { ffmpegPath: '/nonexistent/ffmpeg' })).toEqual({ encoder: 'libx264' });
  });

  it('auto on this GPU-less machine falls back with a reason', async () => {
    const r = await probeEncoder('auto', { devices: { dri: join(tmp, 'no-dri'), nvidia: join(tmp, 'no-nvidia') } });
    expect(r.encoder).toBe('libx264');
    expect(r.fallbackReason).toMatch(/h264_vaapi: (not in ffmpeg -encoders|no .*no-dri)/);
  });

  it('a listed vaapi encoder whose test encode fails falls back, quoting the failure', async () => {
    const r = await probeEncoder('auto', { ffmpegPath: join(fixtures, 'ffmpeg-vaapi-broken'), devices: { dri: fakeDri, nvidia: join(tmp, 'no-nvidia') } });
    expect(r.encoder).toBe('libx264');
    expect(r.fallbackReason).toContain('h264_vaapi: test encode failed (exit 1: Device creation failed: -22.)');
    expect(r.fallbackReason).toContain('h264_nvenc: not in ffmpeg -encoders');
  });

  it('a vaapi encoder that passes is chosen, and the answer is cached per machine', async () => {
    const cacheFile = join(tmp, 'probe-cache.json');
    const dri = join(tmp, 'renderD129');
    writeFileSync(dri, '');
    const opts = { ffmpegPath: join(fixtures, 'ffmpeg-vaapi-ok'), cacheFile, devices: { dri, nvidia: join(tmp, 'no-nvidia') } };
    expect(await probeEncoder('auto', opts)).toEqual({ encoder: 'h264_vaapi' });
    rmSync(dri); // a fresh probe would now fail: only the cache can answer
    expect(await probeEncoder('auto', opts)).toEqual({ encoder: 'h264_vaapi' });
    expect((await probeEncoder('auto', { ...opts, cacheFile: undefined })).encoder).toBe('libx264');
  });

  it('vaapi asked explicitly but without a device node falls back with the reason', async () => {
    const r = await probeEncoder('vaapi', { ffmpegPath: join(fixtures, 'ffmpeg-vaapi-ok'), devices: { dri: join(tmp, 'nope') } });
    expect(r).toEqual({ encoder: 'libx264', fallbackReason: `h264_vaapi: no ${join(tmp, 'nope')}` });
  });
});
