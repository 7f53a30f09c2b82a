// No log line carries a key twice, through the logger chain the runtime builds: the controller's
// 'streams' child, a stream's child, the real encoder driver naming itself, the registry's
// "exited" line. The encoder is the real FfmpegEncoderDriver (as createMediaDrivers makes it)
// with a fixture ffmpeg that passes the hardware probe and exits at once; the rest are stand-ins.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { Controller } from '../../controller/controller.js';
import { createLogger } from '../../machines/log.js';
import { createMediaDrivers } from '../../machines/media/drivers.js';
import { ProcessRegistry } from '../../machines/processes/registry.js';
import { standInComponents } from '../stand-ins/components.js';
import { waitUntil } from '../helpers.js';
import { duplicateKeys } from './duplicate-keys.js';

const FFMPEG = resolve('test/fixtures/media/ffmpeg-vaapi-ok');

describe('log lines through the runtime’s logger chain', () => {
  const dirs: string[] = [];
  const tmp = (p: string) => {
    const d = mkdtempSync(join(tmpdir(), p));
    dirs.push(d);
    return d;
  };
  let stop: () => Promise<void> = async () => {};
  afterEach(async () => {
    await stop();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('carry each key once; the encoder’s lines name it and its stream', async () => {
    const raw: string[] = [];
    const log = createLogger({
      level: 'debug',
      destination: new Writable({
        write(chunk, _enc, cb) {
          raw.push(String(chunk));
          cb();
        },
      }),
    });
    const lines = () => raw.join('').split('\n').filter(Boolean);
    const specs = tmp('pc-logchain-specs-');
    const state = tmp('pc-logchain-state-');
    writeFileSync(join(specs, 'k.yaml'), 'apiVersion: pagecast/v1\nkind: CastSpec\nmetadata: { name: kitchen }\nspec:\n  device: Kitchen TV\n  url: https://ha.example/k?token=hunter2\n');
    // As createRuntime wires them.
    const registry = new ProcessRegistry({ stateFile: join(state, 'children.json'), log: log.child({ component: 'processes' }) });
    const media = createMediaDrivers({ registry, ffmpegPath: FFMPEG, encoder: { probeDevices: { dri: FFMPEG, nvidia: join(state, 'no-nvidia') } } });
    const ctl = new Controller({ specsDir: specs, stateDir: state, components: { ...standInComponents(tmp('pc-logchain-s-')), encoder: media.encoder }, log, watch: false });
    stop = async () => {
      await ctl.stop();
      await registry.stopAll();
    };
    await ctl.start();
    const entries = () => lines().map((l) => JSON.parse(l) as Record<string, unknown>);
    await waitUntil(() => entries().some((e) => e.msg === 'encoder exited'), 10_000, 'the fixture encoder exits and the registry says so');

    for (const l of lines()) expect(duplicateKeys(l), l).toEqual([]);
    const encoder = entries().filter((e) => e.component === 'encoder');
    expect(encoder.map((e) => e.msg)).toEqual(expect.arrayContaining(['hardware encoder passed its test encode', 'starting FFmpeg', 'encoder exited']));
    const stream = entries().find((e) => e.msg === 'stream starting')?.stream;
    expect(stream).toEqual(expect.any(String));
    for (const e of encoder) expect(e.stream).toBe(stream);
    expect(raw.join('')).not.toContain('hunter2');
  });
});
