// `pagecast run --mqtt URL --mqtt-credentials FILE` as a process, with the real runtime (no specs,
// so no pipeline) and a real broker: online with the file's login, offline on SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDirs, waitUntil } from '../../../helpers.js';
import { Mosquitto, retained } from './mosquitto.js';

describe('pagecast run --mqtt', () => {
  const dirs = tempDirs();
  let broker: Mosquitto | undefined;
  let child: ChildProcess | undefined;

  afterEach(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((r) => child!.once('exit', r));
      child.kill('SIGKILL');
      await gone;
    }
    child = undefined;
    await broker?.close();
    broker = undefined;
    dirs.removeAll();
  });

  it('goes online at the broker with the file’s login, and offline on SIGTERM', async () => {
    broker = await Mosquitto.start({ pagecast: 'right-horse-battery' });
    const root = dirs.make('pc-runmqtt-');
    const specs = join(root, 'specs');
    mkdirSync(specs);
    const login = join(root, 'login.yaml');
    writeFileSync(login, 'username: pagecast\npassword: right-horse-battery\n', { mode: 0o600 });
    const args = ['run', specs, '--state-dir', join(root, 'state'), '--api', '127.0.0.1:0', '--stream', '127.0.0.1:0', '--log-format', 'json'];
    child = spawn(process.execPath, ['dist/controller/cli/cli.js', ...args, '--mqtt', broker.url, '--mqtt-credentials', login], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    child.stderr!.on('data', (d) => (log += String(d)));
    const asPagecast = broker.url.replace('mqtt://', 'mqtt://pagecast:right-horse-battery@');
    const availability = async () => [...(await retained(asPagecast, 'pagecast/+/availability')).values()];
    await waitUntil(async () => (await availability()).includes('online'), 15_000, () => `online at the broker; log: ${log}`);
    const exited = new Promise<number | null>((r) => child!.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(await availability()).toEqual(['offline']);
    expect(log).toContain('connected to the MQTT broker');
    expect(log).not.toContain('right-horse-battery');
  });
});
