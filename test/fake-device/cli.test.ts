import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../machines/log.js';
import { connectCast } from '../../machines/cast/connection.js';
import type { FakeCastDevice } from './device.js';
import { parseFakeDeviceArgs, runFakeDevice } from './cli.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

describe('fake device CLI', () => {
  it('parses --name --port --level and rejects bad values with a message', () => {
    expect(parseFakeDeviceArgs(['--name', 'Fake TV', '--port', '8010', '--level', '42'])).toMatchObject({ name: 'Fake TV', port: 8010, level: 42, host: '127.0.0.1' });
    expect(parseFakeDeviceArgs(['--name', 'Fake TV'])).toMatchObject({ port: 8009, level: 41 });
    expect(parseFakeDeviceArgs([])).toEqual({ error: expect.stringContaining('--name is required') });
    expect(parseFakeDeviceArgs(['--name', 'x', '--port', 'abc'])).toEqual({ error: '--port: expected an integer 0–65535, got "abc"' });
    expect(parseFakeDeviceArgs(['--name', 'x', '--bogus'])).toEqual({ error: expect.stringContaining("Unknown option '--bogus'") });
  });

  it('prints what it receives', async () => {
    const lines: string[] = [];
    const opts = parseFakeDeviceArgs(['--name', 'Fake TV', '--port', '0']);
    if ('error' in opts) throw new Error(opts.error);
    const device: FakeCastDevice = await runFakeDevice(opts, (l) => lines.push(l));
    cleanups.push(() => device.stop());
    expect(lines[0]).toMatch(/^fake Cast device "Fake TV" .* listening on 127\.0\.0\.1:\d+$/);
    const conn = await connectCast({ device: { host: '127.0.0.1', port: device.port }, log: silentLogger() });
    cleanups.push(() => conn.close());
    await conn.launch({ takeover: false });
    expect(lines.some((l) => l.includes('sender-0 → receiver-0 receiver {"type":"LAUNCH","appId":"CC1AD845"'))).toBe(true);
    expect(lines.some((l) => l.includes('tp.connection {"type":"CONNECT"}'))).toBe(true);
  });
});
