// The CastDriver: turns a spec's `device:` into an address (mDNS for names and ids, cached by
// device id) and opens castv2 connections that remember our sessions per device across reconnects.
import { PagecastError } from '../errors.js';
import type { Discovery, DiscoveredDevice } from './discovery.js';
import type { DeviceRef } from '../../specs/schema.js';
import type { CastDriver, ResolvedDevice, StartContext } from '../components.js';
import { connectCast, type CastLimits, type CastTimings, type CastV2Connection } from './connection.js';

export interface CastDriverOptions {
  discovery: Discovery;
  timings?: Partial<CastTimings>;
  /** Per-connection bounds (outgoing buffer, drift and warning rates); defaults in DEFAULT_CAST_LIMITS. */
  limits?: Partial<CastLimits>;
  /**
   * Runs once a device's address is known, before resolve() returns it: the stream server uses it
   * to learn which local address routes to the device, so the stream URL handed to it is right.
   */
  onResolved?(device: ResolvedDevice, ctx: StartContext): Promise<void> | void;
}

export interface CastV2Driver extends CastDriver {
  connect(device: ResolvedDevice, ctx: StartContext): Promise<CastV2Connection>;
  /** Session ids we launched on a device (by id, else host:port): what launch() may rejoin. */
  ownedSessions(device: ResolvedDevice): Set<string>;
}

export function createCastDriver(opts: CastDriverOptions): CastV2Driver {
  const byId = new Map<string, ResolvedDevice>();
  const idByName = new Map<string, string>();
  const sessions = new Map<string, Set<string>>();
  const nameKey = (name: string) => name.trim().toLowerCase();

  const remember = (d: DiscoveredDevice): ResolvedDevice => {
    const resolved: ResolvedDevice = { host: d.host, port: d.port, id: d.id, name: d.name, model: d.model };
    byId.set(d.id, resolved);
    idByName.set(nameKey(d.name), d.id);
    return resolved;
  };

  const ownedSessions = (device: ResolvedDevice): Set<string> => {
    const key = device.id ?? `${device.host}:${device.port}`;
    let set = sessions.get(key);
    if (!set) sessions.set(key, (set = new Set()));
    return set;
  };

  const lookUp = async (device: DeviceRef, ctx: StartContext): Promise<ResolvedDevice> => {
    if (typeof device === 'object' && 'host' in device) return { host: device.host, port: device.port ?? 8009 };
    if (typeof device === 'object') {
      const id = device.id.toLowerCase();
      const cached = byId.get(id);
      if (cached) return cached;
      const found = await opts.discovery.findById(id);
      if (!found) throw new PagecastError('DEVICE_NOT_FOUND', `no Cast device with id ${id} answered mDNS`, { source: `device ${id}` });
      return remember(found);
    }
    const cachedId = idByName.get(nameKey(device));
    const cached = cachedId ? byId.get(cachedId) : undefined;
    if (cached) return cached;
    const found = await opts.discovery.findByName(device);
    if (ctx.signal.aborted) throw new PagecastError('ABORTED', `resolving "${device}" aborted`);
    if (!found) throw new PagecastError('DEVICE_NOT_FOUND', `no Cast device named "${device}" answered mDNS`, { source: `device "${device}"` });
    ctx.log.debug({ device, host: found.host, port: found.port, id: found.id }, 'resolved cast device');
    return remember(found);
  };

  return {
    async resolve(device: DeviceRef, ctx: StartContext): Promise<ResolvedDevice> {
      const resolved = await lookUp(device, ctx);
      await opts.onResolved?.(resolved, ctx);
      return resolved;
    },

    connect(device: ResolvedDevice, ctx: StartContext): Promise<CastV2Connection> {
      return connectCast({ device, log: ctx.log, timings: opts.timings, limits: opts.limits, ownedSessions: ownedSessions(device), signal: ctx.signal });
    },

    forget(device: DeviceRef): void {
      if (typeof device === 'object' && 'host' in device) return;
      if (typeof device === 'object') {
        byId.delete(device.id.toLowerCase());
        return;
      }
      const id = idByName.get(nameKey(device));
      idByName.delete(nameKey(device));
      // Sessions stay: they are keyed by the device id, which survives an address change.
      if (id) byId.delete(id);
    },

    ownedSessions,
  };
}
