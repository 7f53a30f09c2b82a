// What the controller gives the console beside status: devices, the spec file, drift history, log
// lines, stream files, play spans. Stand-in components; a stub for mDNS.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Controller } from '../../controller/controller.js';
import { LogTail } from '../../controller/status/log-tail.js';
import { createLogger } from '../../machines/log.js';
import type { DiscoveredDevice } from '../../machines/cast/discovery.js';
import { standInComponents, type StandIns } from '../stand-ins/components.js';
import { waitUntil } from '../helpers.js';
import { Writable } from 'node:stream';

const spec = (name: string, device: string, url = 'https://ha.example/lovelace?token=s3cret') => `apiVersion: pagecast/v1
kind: CastSpec
metadata:
  name: ${name}
spec:
  device: ${device}
  url: ${url}
  policy:
    backoff: { initial: 20ms, max: 40ms }
`;

describe('the controller for the console', () => {
  let dir: string;
  let state: string;
  let streams: string;
  let c: StandIns;
  let ctl: Controller;
  let mdnsAsked = 0;
  const tail = new LogTail();
  const found: DiscoveredDevice[] = [
    { id: 'a'.repeat(32), name: 'Kitchen TV', model: 'Chromecast', host: 'kitchen-tv', port: 8009, runningApp: '', busy: false, instance: 'k' },
    { id: 'b'.repeat(32), name: 'Lounge TV', model: 'Google TV', host: '10.0.0.7', port: 8009, runningApp: 'YouTube', busy: true, instance: 'l' },
  ];

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pc-specs-'));
    state = mkdtempSync(join(tmpdir(), 'pc-state-'));
    streams = mkdtempSync(join(tmpdir(), 'pc-streams-'));
    c = standInComponents(streams);
    mdnsAsked = 0;
    const log = createLogger({ level: 'info', destination: new Writable({ write: (_c, _e, cb) => cb() }) });
    tail.attach(log);
    writeFileSync(join(dir, 'kitchen.yaml'), spec('kitchen', 'Kitchen TV'));
    writeFileSync(join(dir, 'garage.yaml'), spec('garage', '{ host: 10.0.0.9, port: 8009 }'));
    ctl = new Controller({
      specsDir: dir,
      stateDir: state,
      components: c,
      log,
      resyncMs: 60_000,
      logTail: tail,
      playCheckMs: 0,
      discover: async () => {
        mdnsAsked++;
        return found;
      },
    });
    await ctl.start();
    await waitUntil(() => ctl.get('kitchen')?.phase === 'Playing' && ctl.get('garage')?.phase === 'Playing', 5000, 'both playing');
  });
  afterEach(async () => {
    await ctl?.stop();
    for (const d of [dir, state, streams]) rmSync(d, { recursive: true, force: true });
  });

  it('lists what mDNS saw with the specs that name each device, and the devices only specs name', async () => {
    const v = await ctl.devices();
    expect(v.devices.map((d) => [d.name, d.discovered, d.specs.map((s) => `${s.name}:${s.phase}:${s.casting}`)])).toEqual([
      ['Kitchen TV', true, ['kitchen:Playing:true']],
      ['Lounge TV', true, []],
      ['10.0.0.9:8009', false, ['garage:Playing:true']],
    ]);
    expect(v.devices[0]!.app).toBe('Default Media Receiver');
    expect(v.devices[1]!.app).toBe('YouTube');
    // Asked again only once the answer is old.
    await ctl.devices();
    expect(mdnsAsked).toBe(1);
  });

  it('shows the spec file redacted, with a validation error on its line while the last good version runs', async () => {
    writeFileSync(join(dir, 'kitchen.yaml'), `${spec('kitchen', 'Kitchen TV')}  quality: 4k\n`);
    await waitUntil(() => ctl.get('kitchen')?.error, 5000, 'the error');
    const src = (await ctl.specSource('kitchen'))!;
    expect(src.file).toBe('kitchen.yaml');
    expect(src.text).not.toContain('s3cret');
    expect(src.text.split('\n')[6]).toBe('  url: "https://ha.example/lovelace?[redacted]"');
    expect(src.errors).toEqual([expect.objectContaining({ line: 10, message: expect.stringContaining('spec.quality') })]);
    expect(await ctl.specSource('ghost')).toBeUndefined();
  });

  it('keeps the drift history, the log lines of the spec and its stream, and names the stream files', async () => {
    const conn = c.castDriver.connectionTo('kitchen-tv')!;
    conn.drift({ type: 'IDLE', idleReason: 'CANCELLED' });
    await waitUntil(() => conn.loads.length === 2, 5000, 'reloaded');
    conn.drift({ type: 'CONNECTION_LOST', message: 'heartbeat silent' });
    await waitUntil(() => ctl.driftHistory('kitchen').length === 2, 5000, 'two drifts');
    expect(ctl.driftHistory('kitchen').map((d) => d.reason)).toEqual(['IdleCancelled', 'ConnectionLost']);
    const lines = ctl.logLines('kitchen');
    expect(lines.length).toBeGreaterThan(0);
    expect(JSON.stringify(lines)).not.toContain('s3cret');
    const files = ctl.streamFiles('kitchen')!;
    expect(files).toMatchObject({ mode: 'hls', width: 1280, height: 720, entry: 'master.m3u8' });
    expect(files.dir.startsWith(streams)).toBe(true);
    // A stream's lines are among the spec's.
    expect(lines.some((l) => l.msg === 'stream starting')).toBe(true);
    await ctl.suspend('kitchen');
    expect(ctl.streamFiles('kitchen')).toBeUndefined();
  });

  it('reads play spans from the proof-of-play file', async () => {
    writeFileSync(
      join(state, 'play.jsonl'),
      `${JSON.stringify({ v: 1, type: 'close', spec: 'kitchen', device: 'Kitchen TV', start: '2025-01-01T08:00:00.000Z', end: '2025-01-01T09:00:00.000Z', reason: 'Parked' })}\n`,
    );
    const spans = await ctl.playSpans(Date.parse('2025-01-01T00:00:00.000Z'));
    expect(spans).toEqual([{ spec: 'kitchen', device: 'Kitchen TV', start: Date.parse('2025-01-01T08:00:00.000Z'), end: Date.parse('2025-01-01T09:00:00.000Z'), reason: 'Parked' }]);
  });
});
