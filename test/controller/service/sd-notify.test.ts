// systemd's notify protocol against a real Unix datagram socket: a Python receiver (the standard
// library's socket module, with SO_PASSCRED as systemd sets it) stands where systemd's notify
// socket would be and prints each datagram with its sender's pid.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Controller } from '../../../controller/controller.js';
import { SdNotify, statusLine, watchdogIntervalMs, type ServiceState } from '../../../controller/service/sd-notify.js';
import { silentLogger } from '../../../machines/log.js';
import { standInComponents } from '../../stand-ins/components.js';
import { waitUntil } from '../../helpers.js';

// Only modules of python3-minimal (what install.sh installs): one line per datagram, "PID HEX".
const RECEIVER = String.raw`
import socket, struct, sys
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
sock.bind(sys.argv[1])
print("bound", flush=True)
while True:
    data, ancillary, _, _ = sock.recvmsg(4096, socket.CMSG_SPACE(12))
    pid = next((struct.unpack("iII", d)[0] for level, kind, d in ancillary if kind == socket.SCM_CREDENTIALS), 0)
    print(pid, data.hex(), flush=True)
`;

interface Datagram {
  pid: number;
  text: string;
}

/** A notify socket: every datagram it received, in order. */
class Receiver {
  readonly got: Datagram[] = [];
  private proc?: ChildProcess;
  constructor(readonly path: string) {}

  async start(): Promise<void> {
    const proc = spawn('python3', ['-c', RECEIVER, this.path], { stdio: ['ignore', 'pipe', 'inherit'] });
    this.proc = proc;
    let bound = false;
    let rest = '';
    proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (rest + chunk).split('\n');
      rest = lines.pop()!;
      for (const line of lines) {
        if (line === 'bound') bound = true;
        else {
          const [pid, hex] = line.split(' ') as [string, string];
          this.got.push({ pid: Number(pid), text: Buffer.from(hex, 'hex').toString('utf8') });
        }
      }
    });
    await waitUntil(() => bound, 10_000, 'the receiver bound');
  }

  /** The messages (assignments) received, one per line of each datagram. */
  texts(): string[] {
    return this.got.flatMap((d) => d.text.split('\n'));
  }

  count(text: string): number {
    return this.texts().filter((t) => t === text).length;
  }

  stop(): void {
    this.proc?.kill();
  }
}

const spec = (name: string) => `apiVersion: pagecast/v1
kind: CastSpec
metadata: { name: ${name} }
spec:
  device: Kitchen TV
  url: https://ha.example/${name}
`;

function parentOf(pid: number): number {
  // /proc/PID/stat: "pid (comm) state ppid …"; comm may hold spaces, so read after its ')'.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

describe('sd_notify over a real unix datagram socket', () => {
  let root: string;
  let receiver: Receiver;
  let notify: SdNotify | undefined;
  beforeEach(async () => {
    root = mkdtempSync(join(tmpdir(), 'pc-sdnotify-'));
    receiver = new Receiver(join(root, 'notify'));
    await receiver.start();
  });
  afterEach(() => {
    notify?.close();
    notify = undefined;
    receiver.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it('READY=1 after the first reconcile, WATCHDOG=1 every half interval while healthy, STOPPING=1 on stop', async () => {
    const specs = join(root, 'specs');
    mkdirSync(specs);
    writeFileSync(join(specs, 'kitchen.yaml'), spec('kitchen'));
    const ctl = new Controller({ specsDir: specs, stateDir: join(root, 'state'), components: standInComponents(join(root, 'streams')), log: silentLogger(), resyncMs: 60_000 });
    const env: NodeJS.ProcessEnv = { NOTIFY_SOCKET: receiver.path, WATCHDOG_USEC: '200000', PATH: process.env.PATH };
    notify = new SdNotify({ log: silentLogger(), env });
    notify.start();
    expect(notify.enabled).toBe(true);
    // Children started from here on do not inherit the notify variables.
    expect(env).toEqual({ PATH: process.env.PATH });

    // While starting: pings (the loop turns), no READY=1, and none is sent before the first reconcile.
    await waitUntil(() => receiver.count('WATCHDOG=1') >= 1, 5_000, 'a ping while starting');
    expect(notify.ready(ctl)).toBe(false);
    await ctl.start();
    expect(ctl.ready()).toBe(true);
    expect(notify.ready(ctl)).toBe(true);
    await waitUntil(() => receiver.count('READY=1') === 1, 5_000, 'READY=1');

    // Pings go on after READY=1, and the status line follows the controller.
    const afterReady = () => receiver.texts().slice(receiver.texts().indexOf('READY=1'));
    await waitUntil(() => afterReady().filter((t) => t === 'WATCHDOG=1').length >= 3, 5_000, () => `three pings after READY=1: ${afterReady().join(' | ')}`);
    await waitUntil(() => ctl.get('kitchen')?.phase === 'Playing', 5_000, 'kitchen playing');
    await waitUntil(() => receiver.texts().includes('STATUS=1 spec: 1 playing, 0 failed'), 5_000, () => `the status line: ${receiver.texts().join(' | ')}`);

    // Every datagram came from one helper, our child: systemd accepts it with NotifyAccess=all.
    const senders = new Set(receiver.got.map((d) => d.pid));
    expect(senders.size).toBe(1);
    expect(parentOf([...senders][0]!)).toBe(process.pid);

    notify.stop();
    await ctl.stop();
    await waitUntil(() => receiver.count('STOPPING=1') === 1, 5_000, 'STOPPING=1');
    // Nothing after STOPPING=1 but its status, whatever the ticks do meanwhile.
    const last = receiver.texts().length;
    notify.close();
    await waitUntil(() => !notify!.enabled, 5_000, 'the helper gone');
    expect(receiver.texts().slice(receiver.texts().indexOf('STOPPING=1'))).toEqual(['STOPPING=1', 'STATUS=stopping every pipeline']);
    expect(receiver.texts()).toHaveLength(last);
  });

  it('an unhealthy controller (a stuck reconcile loop) gets no WATCHDOG=1 until it is healthy again; its status says why', async () => {
    let ok = true;
    const calls = { ok: 0, bad: 0 };
    const reason = 'a reconcile has been pending for 61 s (limit 60 s): the reconcile loop is stuck';
    const state: ServiceState = {
      ready: () => true,
      health: () => (ok ? calls.ok++ : calls.bad++, { ok, ...(ok ? {} : { reason }), specs: 0, playing: 0, failed: 0 }),
    };
    notify = new SdNotify({ log: silentLogger(), env: { NOTIFY_SOCKET: receiver.path, WATCHDOG_USEC: '100000', PATH: process.env.PATH } });
    notify.start(); // one ping at once, before any controller is there to ask
    notify.ready(state); // asks once, sends READY=1
    await waitUntil(() => receiver.count('WATCHDOG=1') >= 3, 5_000, 'pings while healthy');
    ok = false;
    await waitUntil(() => calls.bad >= 4, 5_000, 'four unhealthy ticks');
    await waitUntil(() => receiver.texts().includes(`STATUS=not healthy: ${reason}`), 5_000, () => `the status line: ${receiver.texts().join(' | ')}`);
    expect(receiver.count(`STATUS=not healthy: ${reason}`)).toBe(1);
    ok = true;
    const okBefore = calls.ok;
    await waitUntil(() => calls.ok >= okBefore + 2, 5_000, 'healthy ticks again');
    notify.stop();
    // Datagrams keep their order from the helper's pipe to the socket: once STOPPING=1 is in, every
    // ping sent before it is too. One ping for the start, then one per healthy tick (ready's own
    // question sends READY=1 instead): none for the unhealthy ones.
    await waitUntil(() => receiver.count('STOPPING=1') === 1, 5_000, 'STOPPING=1');
    expect(receiver.count('WATCHDOG=1')).toBe(1 + calls.ok - 1);
    expect(receiver.count('READY=1')).toBe(1);
  });

  it('does nothing when NOTIFY_SOCKET is unset', () => {
    notify = new SdNotify({ log: silentLogger(), env: { WATCHDOG_USEC: '100000' } });
    notify.start();
    expect(notify.enabled).toBe(false);
    expect(notify.ready({ ready: () => true, health: () => ({ ok: true, specs: 0, playing: 0, failed: 0 }) })).toBe(true);
    notify.stop();
    expect(receiver.got).toEqual([]);
  });

  it('`pagecast run` itself: READY=1, pings, and STOPPING=1 on SIGTERM', async () => {
    const specs = join(root, 'specs');
    mkdirSync(specs);
    const env = { ...process.env, NOTIFY_SOCKET: receiver.path, WATCHDOG_USEC: '200000' };
    const run = spawn(process.execPath, ['dist/controller/cli/cli.js', 'run', specs, '--state-dir', join(root, 'state'), '--api', '127.0.0.1:0', '--stream', '127.0.0.1:0', '--log-level', 'warn'], {
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    run.stderr!.on('data', (d) => (err += String(d)));
    const exited = new Promise<number | null>((r) => run.once('exit', (code) => r(code)));
    try {
      await waitUntil(() => receiver.count('READY=1') === 1, 20_000, () => `READY=1 from pagecast run: ${err}`);
      expect(receiver.texts()).toContain('STATUS=0 specs: 0 playing, 0 failed');
      const pingsAtReady = receiver.count('WATCHDOG=1');
      await waitUntil(() => receiver.count('WATCHDOG=1') >= pingsAtReady + 2, 5_000, 'pings after READY=1');
      expect(parentOf(receiver.got[0]!.pid)).toBe(run.pid);
      run.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(receiver.count('STOPPING=1')).toBe(1);
      expect(err).not.toMatch(/systemd notify/);
    } finally {
      run.kill('SIGKILL');
    }
  });

  it('reads the watchdog interval as sd_watchdog_enabled(3) does: half of WATCHDOG_USEC, for this pid only', () => {
    expect(watchdogIntervalMs({ WATCHDOG_USEC: '30000000' }, 42)).toBe(15_000);
    expect(watchdogIntervalMs({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '42' }, 42)).toBe(15_000);
    expect(watchdogIntervalMs({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '43' }, 42)).toBeUndefined();
    expect(watchdogIntervalMs({}, 42)).toBeUndefined();
    expect(watchdogIntervalMs({ WATCHDOG_USEC: 'soon' }, 42)).toBeUndefined();
    expect(statusLine({ ok: true, specs: 1, playing: 0, failed: 1 })).toBe('1 spec: 0 playing, 1 failed');
  });
});
