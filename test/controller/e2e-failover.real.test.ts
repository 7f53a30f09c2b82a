// Two `pagecast run` instances of one site on a real 3-member etcd, a fake TV and the real pipeline:
// one of them casts; SIGKILLed, the other takes the spec over on its own and the TV plays its
// stream within TTL + 5 s. Nothing of the killed one is left behind.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessRegistry } from '../../machines/processes/registry.js';
import { FakeCastDevice, selfSignedCert } from '../fake-device/device.js';
import { EtcdCluster } from '../fixtures/etcd-cluster.js';
import { childPids, PAGE, specYaml } from '../harness.js';
import { alive, freePort, waitUntil } from '../helpers.js';

const CLI = join(process.cwd(), 'dist/controller/cli/cli.js');
const TTL_S = 3;

interface Instance {
  id: string;
  child: ChildProcess;
  stateDir: string;
  streamPort: number;
  stderr: string[];
}

describe('failover between two instances of a site, real etcd and real pipeline', () => {
  let etcd: EtcdCluster;
  let dir: string;
  let root: string;
  let tv: FakeCastDevice;
  let page: Server;
  const instances: Instance[] = [];

  async function start(id: string): Promise<Instance> {
    const stateDir = join(root, `state-${id}`);
    const streamPort = await freePort();
    const args = [CLI, 'run', dir, '--state-dir', stateDir, '--api', '127.0.0.1:0', '--stream', `127.0.0.1:${streamPort}`, '--log-level', 'info', '--log-format', 'json'];
    args.push('--coordinator', 'etcd', '--etcd-endpoints', etcd.endpoints.join(','), '--site', 'failover-test', '--instance-id', id, '--lease-ttl', String(TTL_S));
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, TMPDIR: root } });
    const inst: Instance = { id, child, stateDir, streamPort, stderr: [] };
    child.stderr!.setEncoding('utf8').on('data', (d: string) => inst.stderr.push(d));
    instances.push(inst);
    return inst;
  }

  /** The instance whose stream the TV is playing now, with frames decoded, if any. */
  function playingFrom(): Instance | undefined {
    const s = tv.status();
    if (s.media?.playerState !== 'PLAYING' || (s.player?.framesDecoded ?? 0) === 0) return undefined;
    return instances.find((i) => s.media?.contentId?.startsWith(`http://127.0.0.1:${i.streamPort}/`));
  }

  beforeAll(async () => {
    etcd = await EtcdCluster.start(3);
    root = mkdtempSync(join(tmpdir(), 'pc-failover-'));
    dir = mkdtempSync(join(tmpdir(), 'pc-failover-specs-'));
    page = createHttpServer((_q, r) => r.end(PAGE));
    await new Promise<void>((r) => page.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(page.address() as { port: number }).port}/`;
    tv = new FakeCastDevice({ name: 'Failover TV', host: '127.0.0.1', port: 0, tls: await selfSignedCert() });
    await tv.start();
    writeFileSync(join(dir, 'lobby.yaml'), specYaml('lobby', `{ host: 127.0.0.1, port: ${tv.port} }`, url));
  });
  afterAll(async () => {
    for (const i of instances) {
      if (i.child.exitCode === null && i.child.signalCode === null) {
        const exited = new Promise<void>((r) => i.child.once('exit', () => r()));
        i.child.kill('SIGTERM');
        await exited;
      }
      // What a SIGKILLed instance left, should the dead-man switch not have removed it.
      await new ProcessRegistry({ stateFile: join(i.stateDir, 'children.json') }).reapOrphans();
    }
    await tv?.stop();
    page?.close();
    await etcd?.stop();
    for (const d of [dir, root]) if (d) rmSync(d, { recursive: true, force: true });
  });

  it('the casting instance SIGKILLed: the other one plays the TV again within TTL + 5 s', async () => {
    await start('box-a');
    await start('box-b');
    const first = await waitUntil(() => playingFrom(), 60_000, () => `the TV playing one instance's stream (${JSON.stringify(tv.status().media)}); stderr: ${instances.map((i) => i.stderr.join('').slice(-2000)).join('\n---\n')}`);
    const loadsBefore = tv.count('LOAD');
    const other = instances.find((i) => i !== first)!;

    const pids = childPids(first.stateDir);
    expect(pids.length).toBeGreaterThanOrEqual(3); // Xvfb, Chromium, FFmpeg

    const killedAt = Date.now();
    first.child.kill('SIGKILL');
    // Its dead-man switch ends its pipeline at once: nothing streams for an instance that is gone.
    await waitUntil(() => pids.every((p) => !alive(p)), 3000, () => `the killed instance's processes gone (alive: ${pids.filter(alive).join(', ')})`, { intervalMs: 20 });
    const pipelineGoneMs = Date.now() - killedAt;
    await waitUntil(() => playingFrom() === other, 30_000, () => `the TV playing ${other.id}'s stream (${JSON.stringify(tv.status().media)}); ${other.id} stderr: ${other.stderr.join('').slice(-3000)}`, { intervalMs: 50 });
    const takeoverMs = Date.now() - killedAt;
    const claimed = other.stderr.join('').split('\n').find((l) => l.includes('"msg":"coordination: claimed"'));
    if (claimed) console.log(`[failover] claimed ${Date.parse((JSON.parse(claimed) as { time: string }).time) - killedAt} ms after the kill`);
    console.log(`[failover] ${first.id} SIGKILLed → its pipeline gone after ${pipelineGoneMs} ms; ${other.id} PLAYING on the TV after ${takeoverMs} ms (TTL ${TTL_S} s)`);
    expect(takeoverMs).toBeLessThan((TTL_S + 5) * 1000);
    expect(tv.count('LOAD')).toBe(loadsBefore + 1);
  });
});
