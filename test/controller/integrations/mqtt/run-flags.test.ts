// `pagecast run --mqtt URL --mqtt-credentials FILE`: bad flags and a bad login file stop the
// start before anything runs (a real run with a broker: run-mqtt.real.test.ts).
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDirs } from '../../../helpers.js';
import { runCli as run } from '../../cli/run-cli.js';


describe('pagecast run --mqtt', () => {
  const dirs = tempDirs();
  afterEach(() => dirs.removeAll());

  it('refuses a URL that is not a broker, and credentials without a broker, as usage errors', async () => {
    const specs = dirs.make('pc-runmqtt-');
    expect(await run(['run', specs, '--mqtt', 'http://user:hunter2@broker'])).toEqual({ code: 2, err: 'pagecast run: --mqtt: expected mqtt://, mqtts://, ws:// or wss://, got http://\n' });
    expect(await run(['run', specs, '--mqtt-credentials', join(specs, 'login.yaml')])).toEqual({ code: 2, err: 'pagecast run: --mqtt-credentials needs --mqtt\n' });
  });

  it('a login file others can read stops the start before anything runs', async () => {
    const root = dirs.make('pc-runmqtt-');
    const login = join(root, 'login.yaml');
    writeFileSync(login, 'username: pagecast\npassword: hunter2\n', { mode: 0o644 });
    const state = join(root, 'state');
    const r = await run(['run', root, '--state-dir', state, '--mqtt', 'mqtt://127.0.0.1:1', '--mqtt-credentials', login]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`--mqtt-credentials ${login}: readable by others (mode 644): run chmod 600 ${login}`);
    expect(r.err).not.toContain('hunter2');
    expect(existsSync(state)).toBe(false);
  });
});
