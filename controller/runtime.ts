// Assembles the real components: Xvfb, Chromium, FFmpeg (all registered with the process
// registry), the stream server, and the castv2 driver with mDNS discovery.
import { join } from 'node:path';
import { mkdirSync, rmSync } from 'node:fs';
import type { Components } from '../machines/components.js';
import { createMediaDrivers } from '../machines/media/drivers.js';
import { createCastDriver } from '../machines/cast/driver.js';
import type { CastTimings } from '../machines/cast/connection.js';
import { createDiscovery, type DiscoveryOptions } from '../machines/cast/discovery.js';
import { ProcessRegistry } from '../machines/processes/registry.js';
import { DeadManSwitch } from '../machines/processes/dead-man.js';
import { StreamServer } from './http/stream-server.js';
import type { Logger } from '../machines/log.js';

export interface RuntimeOptions {
  stateDir: string;
  log: Logger;
  stream?: { host?: string; port?: number; advertiseHost?: string };
  chromiumPath?: string;
  ffmpegPath?: string;
  discovery?: DiscoveryOptions;
  castTimings?: Partial<CastTimings>;
  /**
   * A dead-man switch for the pipelines (ms): a child process that kills every registered process
   * group when the controller's heartbeat is silent this long (paused, frozen) or the controller
   * dies. On with a lease coordinator (⅔ of its TTL), so nothing casts for an instance that lost
   * its lease; off on a single box, whose next start reaps what a crash left.
   */
  deadManMs?: number;
}

export interface Runtime {
  components: Components;
  registry: ProcessRegistry;
  streamServer: StreamServer;
  deadMan?: DeadManSwitch;
  /** Stops every child process and the stream server. */
  close(): Promise<void>;
}

export async function createRuntime(opts: RuntimeOptions): Promise<Runtime> {
  const log = opts.log;
  const registry = new ProcessRegistry({ stateFile: join(opts.stateDir, 'children.json'), log: log.child({ component: 'processes' }) });
  // After a crash (SIGKILL) the last run's children may still be there: remove them first,
  // checking start times so a process that merely reused a pid is left alone.
  const reaped = await registry.reapOrphans();
  if (reaped.killed.length || reaped.skipped.length) log.info(reaped, 'removed what the last run left');
  // Chromium profiles of runs that died go when the browser driver makes its first profile (after
  // this reap, so no orphaned Chromium of ours still holds one).

  // Stream directories of a run that died: nothing of ours writes there any more (the reap is done,
  // and the state directory's lock keeps other controllers out).
  const streamRoot = join(opts.stateDir, 'streams');
  rmSync(streamRoot, { recursive: true, force: true });
  mkdirSync(streamRoot, { recursive: true, mode: 0o700 });
  mkdirSync(join(opts.stateDir, 'profiles'), { recursive: true, mode: 0o700 });
  let deadMan: DeadManSwitch | undefined;
  if (opts.deadManMs !== undefined) {
    deadMan = new DeadManSwitch({ registry, timeoutMs: opts.deadManMs, log: log.child({ component: 'dead-man' }) });
    await deadMan.start();
  }
  const streamServer = new StreamServer({ ...opts.stream, log });
  await streamServer.start().catch(async (err: unknown) => {
    await deadMan?.stop();
    throw err;
  });

  const cast = createCastDriver({
    discovery: createDiscovery({ ...opts.discovery, log: log.child({ component: 'discovery' }) }),
    timings: opts.castTimings,
    // The stream URL handed to a device uses the local address that routes to it: look it up
    // once the device's address is known.
    onResolved: async (d, ctx) => {
      await streamServer.prepareRoute(d.host).catch((err: Error) => ctx.log.warn({ err: err.message }, 'no route to the device; using the first LAN address'));
    },
  });

  const media = createMediaDrivers({
    registry,
    chromiumPath: opts.chromiumPath,
    ffmpegPath: opts.ffmpegPath,
    probeCacheFile: join(opts.stateDir, 'encoder-probe.json'),
    browser: { profileRoot: join(opts.stateDir, 'profiles') },
  });
  const components: Components = {
    ...media,
    cast,
    streams: streamServer,
    streamRoot,
  };
  return {
    components,
    registry,
    streamServer,
    ...(deadMan ? { deadMan } : {}),
    async close() {
      await registry.stopAll();
      await deadMan?.stop();
      await streamServer.stop();
    },
  };
}
