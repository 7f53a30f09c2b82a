import { mkdtempSync, rmSync, writeFileSync, unlinkSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Controller } from '../../controller/controller.js';
import { silentLogger } from '../../machines/log.js';
import { standInComponents, type StandIns } from '../stand-ins/components.js';
import { waitUntil } from '../helpers.js';
import { startApiServer } from '../../controller/http/api.js';

const spec = (name: string, extra: Record<string, string> = {}) => `apiVersion: pagecast/v1
kind: CastSpec
metadata:
  name: ${name}
spec:
  device: ${extra.device ?? 'Kitchen TV'}
  url: ${extra.url ?? 'https://ha.example/lovelace/kitchen?token=s3cret'}
  priority: ${extra.priority ?? '0'}
  policy:
    backoff: { initial: 50ms, max: 200ms }
${extra.tail ?? ''}`;

describe('controller with stand-in components', () => {
  let dir: string;
  let state: string;
  let streams: string;
  let c: StandIns;
  let ctl: Controller;
  const phase = (n: string) => ctl.get(n)?.phase;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'pc-specs-'));
    state = mkdtempSync(join(tmpdir(), 'pc-state-'));
    streams = mkdtempSync(join(tmpdir(), 'pc-streams-'));
    c = standInComponents(streams);
  });
  afterEach(async () => {
    await ctl?.stop();
    for (const d of [dir, state, streams]) rmSync(d, { recursive: true, force: true });
  });

  const start = async () => {
    ctl = new Controller({ specsDir: dir, stateDir: state, components: c, log: silentLogger(), resyncMs: 60_000 });
    await ctl.start();
  };

  it('brings a new spec file to Playing, and tears it down in order when the file goes', async () => {
    writeFileSync(join(dir, 'kitchen.yaml'), spec('kitchen'));
    await start();
    await waitUntil(() => phase('kitchen') === 'Playing', 5000, 'Playing');
    expect(c.castDriver.allLoads).toHaveLength(1);
    const st = ctl.get('kitchen')!;
    expect(st.url).toBe('https://ha.example/lovelace/kitchen?[redacted]');
    expect(st.conditions.find((x) => x.type === 'MediaPlaying')?.status).toBe('True');
    unlinkSync(join(dir, 'kitchen.yaml'));
    await waitUntil(() => ctl.get('kitchen') === undefined && c.log.running('display').length === 0, 5000, 'teardown');
    expect(c.castDriver.stops).toEqual(['kitchen-tv']);
    const ev = c.log.events.filter((e) => e.startsWith('stop'));
    expect(ev.map((e) => e.split('#')[0])).toEqual(['stop encoder', 'stop browser', 'stop display'].sort((a, b) => ev.findIndex((x) => x.startsWith(a)) - ev.findIndex((x) => x.startsWith(b))));
    expect(ev.findIndex((e) => e.startsWith('stop display'))).toBe(ev.length - 1);
  });

  it('serves its real status as Prometheus metrics on /metrics', async () => {
    writeFileSync(join(dir, 'a.yaml'), spec('menu-a', { device: 'TV A' }));
    writeFileSync(join(dir, 'b.yaml'), spec('menu-b', { device: 'TV B' }));
    await start();
    await waitUntil(() => phase('menu-a') === 'Playing' && phase('menu-b') === 'Playing');
    const api = await startApiServer({ control: ctl, host: '127.0.0.1', port: 0, token: 'x'.repeat(43), log: silentLogger() });
    try {
      const res = await fetch(`${api.url}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      const text = await res.text();
      expect(text).toContain('pagecast_specs{phase="Playing"} 2');
      expect(text).toContain('pagecast_streams 1'); // one page, two screens
      expect(text).toContain('pagecast_spec_phase{spec="menu-a",phase="Playing"} 1');
      expect(text).toContain('pagecast_spec_condition{spec="menu-b",type="MediaPlaying",status="True"} 1');
      expect(Number(/^pagecast_reconciles_total (\d+)$/m.exec(text)?.[1])).toBeGreaterThan(0);
      expect(text).not.toContain('s3cret');
    } finally {
      await api.close();
    }
  });

  it('keeps the last good version running when the file turns invalid, with the error in status', async () => {
    writeFileSync(join(dir, 'kitchen.yaml'), spec('kitchen'));
    await start();
    await waitUntil(() => phase('kitchen') === 'Playing');
    writeFileSync(join(dir, 'kitchen.yaml'), spec('kitchen').replace('priority: 0', 'priority: 0\n  qualty: 720p'));
    await waitUntil(() => ctl.get('kitchen')?.error, 5000, 'error in status');
    const st = ctl.get('kitchen')!;
    expect(st.phase).toBe('Playing');
    expect(st.error).toMatch(/kitchen\.yaml:\d+:\d+ spec\.qualty/);
    expect(st.conditions.find((x) => x.type === 'Valid')?.status).toBe('False');
    expect(c.log.running('encoder')).toHaveLength(1);
  });

  it('re-renders on a url change without dropping the device connection, and re-casts on a device change without re-rendering', async () => {
    writeFileSync(join(dir, 'kitchen.yaml'), spec('kitchen'));
    await start();
    await waitUntil(() => phase('kitchen') === 'Playing');
    const conn = c.castDriver.connectionTo('kitchen-tv')!;
    writeFileSync(join(dir, 'kitchen.yaml'), spec('kitchen', { url: 'https://ha.example/other' }));
    await waitUntil(() => conn.loads.length === 2, 5000, 'second LOAD');
    expect(conn.closed).toBe(false);
    expect(conn.loads[1]!.url).not.toBe(conn.loads[0]!.url);
    await waitUntil(() => c.log.running('encoder').length === 1, 5000, 'old stream released');
    const encodersBefore = c.log.events.filter((e) => e.startsWith('start encoder')).length;
    writeFileSync(join(dir, 'kitchen.yaml'), spec('kitchen', { url: 'https://ha.example/other', device: 'Living Room TV' }));
    await waitUntil(() => c.castDriver.connectionTo('living-room-tv')?.loads.length === 1, 5000, 'LOAD on the new device');
    expect(c.castDriver.stops).toContain('kitchen-tv');
    expect(c.log.events.filter((e) => e.startsWith('start encoder')).length).toBe(encodersBefore);
  });

  it('shares one stream between specs with the same page, and arbitrates a device by priority', async () => {
    writeFileSync(join(dir, 'a.yaml'), spec('menu-a', { device: 'TV A' }));
    writeFileSync(join(dir, 'b.yaml'), spec('menu-b', { device: 'TV B' }));
    writeFileSync(join(dir, 'c.yaml'), spec('menu-c', { device: 'TV C' }));
    await start();
    await waitUntil(() => ['menu-a', 'menu-b', 'menu-c'].every((n) => phase(n) === 'Playing'));
    expect(c.log.running('encoder')).toHaveLength(1);
    expect(ctl.get('menu-a')!.stream!.sharedWith.sort()).toEqual(['menu-b', 'menu-c']);
    // A higher-priority spec preempts on TV A; the lower one comes back when it goes.
    writeFileSync(join(dir, 'door.yaml'), spec('doorbell', { device: 'TV A', priority: '10', url: 'https://cam.example/door' }));
    await waitUntil(() => phase('doorbell') === 'Playing' && phase('menu-a') === 'Preempted', 5000, 'preemption');
    expect(ctl.get('menu-a')!.conditions.find((x) => x.type === 'DeviceConflict')?.message).toMatch(/doorbell/);
    unlinkSync(join(dir, 'door.yaml'));
    await waitUntil(() => phase('menu-a') === 'Playing', 5000, 'menu-a back');
  });

  it('reports DeviceConflict for equal priority and lets the holder keep the device', async () => {
    writeFileSync(join(dir, 'a.yaml'), spec('first'));
    await start();
    await waitUntil(() => phase('first') === 'Playing');
    writeFileSync(join(dir, 'b.yaml'), spec('aaa-second', { url: 'https://x.example/' }));
    await waitUntil(() => ctl.get('aaa-second')?.conditions.some((x) => x.type === 'DeviceConflict' && x.status === 'True'), 5000, 'conflict');
    expect(phase('first')).toBe('Playing');
    expect(ctl.get('aaa-second')!.conditions.find((x) => x.type === 'DeviceConflict')!.message).toMatch(/first/);
  });

  it('repairs a device IDLE with a new LOAD on the same stream, and fails after the restart budget', async () => {
    writeFileSync(join(dir, 'k.yaml'), spec('kitchen', { tail: '  policy:\n    backoff: { initial: 20ms, max: 40ms }\n    maxRestarts: { count: 2, window: 10m }\n' }).replace(/  policy:\n    backoff: \{ initial: 50ms, max: 200ms \}\n/, ''));
    await start();
    await waitUntil(() => phase('kitchen') === 'Playing');
    const conn = c.castDriver.connectionTo('kitchen-tv')!;
    conn.drift({ type: 'IDLE', idleReason: 'CANCELLED' });
    await waitUntil(() => conn.loads.length === 2 && phase('kitchen') === 'Playing', 5000, 'reload');
    expect(c.log.events.filter((e) => e.startsWith('start encoder'))).toHaveLength(1);
    expect(ctl.get('kitchen')!.lastDrift?.reason).toBe('IdleCancelled');
    conn.drift({ type: 'IDLE', idleReason: 'ERROR', detailedErrorCode: 315 });
    await waitUntil(() => conn.loads.length === 3 && phase('kitchen') === 'Playing', 5000, 'second reload');
    conn.drift({ type: 'IDLE', idleReason: 'CANCELLED' });
    await waitUntil(() => phase('kitchen') === 'Failed', 5000, 'Failed');
    await waitUntil(() => c.log.running('encoder').length === 0, 5000, 'stream released');
  });

  it('tears down on device IDLE when the policy says so', async () => {
    writeFileSync(join(dir, 'k.yaml'), spec('kitchen').replace('    backoff:', '    onDeviceIdle: teardown\n    backoff:'));
    await start();
    await waitUntil(() => phase('kitchen') === 'Playing');
    c.castDriver.connectionTo('kitchen-tv')!.drift({ type: 'APP_GONE' });
    await waitUntil(() => phase('kitchen') === 'Stopped' && c.log.running('encoder').length === 0, 5000, 'Stopped');
  });

  it('waits while another app plays (onOtherApp: wait), and re-joins without a LOAD after a lost connection', async () => {
    writeFileSync(join(dir, 'k.yaml'), spec('kitchen'));
    await start();
    await waitUntil(() => phase('kitchen') === 'Playing');
    const conn = c.castDriver.connectionTo('kitchen-tv')!;
    conn.drift({ type: 'CONNECTION_LOST', message: 'heartbeat silent for 15 s' });
    await waitUntil(() => c.castDriver.connectionTo('kitchen-tv') && phase('kitchen') === 'Playing', 5000, 'rejoined');
    const conn2 = c.castDriver.connectionTo('kitchen-tv')!;
    expect(conn2).not.toBe(conn);
    expect(conn2.loads).toHaveLength(0); // joined: no new LOAD, no blank screen
    conn2.drift({ type: 'OTHER_APP', appId: '233637DE', displayName: 'YouTube' });
    await waitUntil(() => phase('kitchen') === 'Waiting', 5000, 'Waiting');
    expect(ctl.get('kitchen')!.conditions.find((x) => x.type === 'MediaPlaying')!.message).toMatch(/233637DE|another app/);
  });

  it('suspends and resumes through the control plane; ephemeral casts preempt and expire', async () => {
    writeFileSync(join(dir, 'k.yaml'), spec('kitchen'));
    await start();
    await waitUntil(() => phase('kitchen') === 'Playing');
    expect(await ctl.suspend('kitchen')).toBe(true);
    await waitUntil(() => phase('kitchen') === 'Suspended' && c.log.running('encoder').length === 0, 5000, 'Suspended');
    expect(await ctl.resume('kitchen')).toBe(true);
    await waitUntil(() => phase('kitchen') === 'Playing', 5000, 'resumed');
    const { name, expiresAt } = await ctl.createCast({ device: 'Kitchen TV', url: 'https://cam.example/door', duration: '300ms' });
    expect(expiresAt).toBeDefined();
    await waitUntil(() => phase(name) === 'Playing' && phase('kitchen') === 'Preempted', 5000, 'doorbell plays');
    await waitUntil(() => ctl.get(name) === undefined && phase('kitchen') === 'Playing', 5000, 'cast expired, kitchen back');
    await expect(ctl.createCast({ device: 'Kitchen TV', url: 'ftp://nope' })).rejects.toThrow(/body\.url/);
  });

  it('survives a restart: suspends and last good versions come back from the state directory', async () => {
    writeFileSync(join(dir, 'k.yaml'), spec('kitchen'));
    await start();
    await waitUntil(() => phase('kitchen') === 'Playing');
    await ctl.suspend('kitchen');
    await ctl.stop();
    ctl = new Controller({ specsDir: dir, stateDir: state, components: c, log: silentLogger(), resyncMs: 60_000 });
    await ctl.start();
    await waitUntil(() => phase('kitchen') === 'Suspended', 5000, 'still suspended');
  });

  it('after a restart with a now-invalid file, runs the last good version from the state directory', async () => {
    writeFileSync(join(dir, 'k.yaml'), spec('kitchen'));
    await start();
    await waitUntil(() => phase('kitchen') === 'Playing');
    await ctl.stop();
    writeFileSync(join(dir, 'k.yaml'), 'apiVersion: pagecast/v1\nkind: CastSpec\nmetadata: { name: kitchen\n');
    ctl = new Controller({ specsDir: dir, stateDir: state, components: c, log: silentLogger(), resyncMs: 60_000 });
    await ctl.start();
    await waitUntil(() => phase('kitchen') === 'Playing', 5000, 'last good Playing');
    expect(ctl.get('kitchen')!.error).toMatch(/^k\.yaml:\d+:\d+ /);
  });

  it('after a restart, a last good copy that no longer validates is set aside: the start completes, nothing runs it', async () => {
    writeFileSync(join(dir, 'k.yaml'), spec('kitchen'));
    await start();
    await waitUntil(() => phase('kitchen') === 'Playing');
    await ctl.stop();
    const { readFileSync } = await import('node:fs');
    const file = JSON.parse(readFileSync(join(state, 'last-good.json'), 'utf8'));
    file.lastGood.kitchen.spec = { spec: { url: 'https://x.example/' } }; // no device, no metadata: once a TypeError and a hang
    writeFileSync(join(state, 'last-good.json'), JSON.stringify(file));
    writeFileSync(join(dir, 'k.yaml'), 'apiVersion: pagecast/v1\nkind: CastSpec\nmetadata: { name: kitchen\n');
    ctl = new Controller({ specsDir: dir, stateDir: state, components: c, log: silentLogger(), resyncMs: 60_000 });
    await ctl.start();
    expect(ctl.ready()).toBe(true);
    expect(ctl.get('kitchen')).toBeUndefined();
    expect(c.log.running('encoder')).toHaveLength(0);
  });

  it('follows a Kubernetes ConfigMap mount: visible names are symlinks into ..data, swapped atomically', async () => {
    const { mkdirSync, symlinkSync } = await import('node:fs');
    mkdirSync(join(dir, '..2026_01'));
    writeFileSync(join(dir, '..2026_01', 'k.yaml'), spec('kitchen'));
    symlinkSync('..2026_01', join(dir, '..data'));
    symlinkSync('..data/k.yaml', join(dir, 'k.yaml'));
    await start();
    await waitUntil(() => phase('kitchen') === 'Playing');
    mkdirSync(join(dir, '..2026_02'));
    writeFileSync(join(dir, '..2026_02', 'k.yaml'), spec('kitchen', { url: 'https://ha.example/v2' }));
    symlinkSync('..2026_02', join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
    rmSync(join(dir, '..2026_01'), { recursive: true });
    await waitUntil(() => ctl.get('kitchen')?.url === 'https://ha.example/v2', 5000, 'swapped spec applied');
    expect(ctl.get('kitchen')!.error).toBeUndefined();
  });

  it('follows an atomic rename save and many files changed at once', async () => {
    await start();
    for (let i = 0; i < 200; i++) writeFileSync(join(dir, `.tmp-${i}`), spec(`s-${i}`, { device: `TV ${i}` }));
    for (let i = 0; i < 200; i++) renameSync(join(dir, `.tmp-${i}`), join(dir, `s-${i}.yaml`));
    await waitUntil(() => ctl.list().length === 200 && ctl.list().every((s) => s.phase === 'Playing'), 15_000, '200 Playing');
    expect(c.log.running('encoder')).toHaveLength(1);
  });
});
