// --mqtt and --mqtt-credentials: a broker URL; a login file that is owner-only, has two keys, and
// gives errors that never quote the password.
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseMqttUrl, readMqttCredentials } from '../../../../controller/integrations/mqtt/config.js';
import { tempDirs } from '../../../helpers.js';

const dirs = tempDirs();
afterEach(() => dirs.removeAll());

function file(text: string, mode = 0o600): string {
  const path = join(dirs.make('pc-mqtt-cred-'), 'mqtt.yaml');
  writeFileSync(path, text, { mode });
  chmodSync(path, mode);
  return path;
}

describe('readMqttCredentials', () => {
  it('reads a user name and a password', async () => {
    expect(await readMqttCredentials(file('username: pagecast\npassword: "s3cret: yes"\n'))).toEqual({ username: 'pagecast', password: 's3cret: yes' });
  });

  it('refuses a file others can read, as the API token file', async () => {
    const path = file('username: pagecast\npassword: hunter2\n', 0o644);
    await expect(readMqttCredentials(path)).rejects.toThrow(`--mqtt-credentials ${path}: readable by others (mode 644): run chmod 600 ${path}`);
  });

  it.each([
    ['username: pagecast\npasword: hunter2\n', 'Unrecognized key: "pasword"'],
    ['password: hunter2\n', 'username: expected a user name'],
    ['username: pagecast\npassword: 1234\n', 'password: expected a password (quote it if YAML reads it as a number)'],
    ['hunter2', 'expected "username: NAME" and "password: SECRET" lines'],
    ['username: [hunter2\n', 'not YAML'],
  ])('says what is wrong with %j and never quotes the password', async (text, message) => {
    const err = (await readMqttCredentials(file(text)).catch((e: unknown) => e)) as Error;
    expect(err.message).toContain(message);
    expect(err.message).not.toMatch(/hunter2|1234/);
  });
});

describe('parseMqttUrl', () => {
  it('takes mqtt, mqtts, ws and wss URLs', () => {
    for (const u of ['mqtt://127.0.0.1:1883', 'mqtts://broker.lan', 'ws://h:9001/mqtt', 'wss://u:p@h/mqtt']) expect(parseMqttUrl(u)).toBe(u);
  });

  it.each([
    ['127.0.0.1:1883', '--mqtt: expected a broker URL like mqtt://127.0.0.1:1883'],
    ['broker:1883', '--mqtt: expected mqtt://, mqtts://, ws:// or wss://, got broker://'],
    ['http://broker', '--mqtt: expected mqtt://, mqtts://, ws:// or wss://, got http://'],
    ['broker', '--mqtt: expected a broker URL like mqtt://127.0.0.1:1883'],
  ])('refuses %j', (text, message) => {
    expect(() => parseMqttUrl(text)).toThrow(message);
  });

  it('never repeats credentials it was given', () => {
    expect(() => parseMqttUrl('http://user:hunter2@broker')).toThrow(/^((?!hunter2).)*$/);
  });
});
