// Finds Cast devices over mDNS: PTR `_googlecast._tcp.local` → SRV (host, port) → A + TXT
// (CAST.md §5), with the pure-JS multicast-dns package.
import { createSocket, type Socket } from 'node:dgram';
import makeMdns from 'multicast-dns';
import type { Answer } from 'dns-packet';
import type { Logger } from '../log.js';

export const CAST_SERVICE = '_googlecast._tcp.local';

export interface DiscoveredDevice {
  id: string; // TXT id: the stable identity
  name: string; // TXT fn
  model?: string; // TXT md
  host: string;
  port: number;
  /** TXT rs: what the device says it runs ('' when idle). */
  runningApp?: string;
  /** TXT st: 1 when an app is running. */
  busy: boolean;
  instance: string;
}

export interface DiscoveryOptions {
  timeoutMs?: number;
  /** Local IPv4 address to send and listen on (e.g. 127.0.0.1 in tests). Default: all. */
  interface?: string;
  /** mDNS port; 5353 unless a test picks its own. */
  port?: number;
  /**
   * Where queries go. Default the mDNS group 224.0.0.251. Tests use the loopback broadcast
   * 127.255.255.255 (loopback has no multicast), so nothing ever leaves the machine.
   */
  address?: string;
  /** Re-send the query this often while waiting: UDP may drop one. */
  requeryMs?: number;
  log?: Logger;
}

/** Everything heard so far, keyed as DNS does. Pure data, so parsing is testable without sockets. */
export interface MdnsRecords {
  ptr: Set<string>; // instance names
  srv: Map<string, { target: string; port: number }>;
  txt: Map<string, Map<string, string>>;
  a: Map<string, string>; // host name → IPv4
}

export function emptyRecords(): MdnsRecords {
  return { ptr: new Set(), srv: new Map(), txt: new Map(), a: new Map() };
}

/** Adds one packet's answers and additionals to `records`; ignores anything malformed. */
export function addRecords(records: MdnsRecords, answers: readonly Answer[]): void {
  for (const r of answers) {
    const name = typeof r.name === 'string' ? r.name.toLowerCase() : undefined;
    if (!name) continue;
    if (r.type === 'PTR' && name === CAST_SERVICE && typeof r.data === 'string' && !r.data.toLowerCase().includes('._sub.')) records.ptr.add(r.data.toLowerCase());
    else if (r.type === 'SRV' && typeof r.data === 'object' && r.data && typeof r.data.target === 'string' && typeof r.data.port === 'number') records.srv.set(name, { target: r.data.target.toLowerCase(), port: r.data.port });
    else if (r.type === 'TXT') records.txt.set(name, parseTxt(r.data));
    else if (r.type === 'A' && typeof r.data === 'string') records.a.set(name, r.data);
  }
}

/** TXT strings are `key=value`; values are UTF-8 (friendly names often are not ASCII). */
export function parseTxt(data: unknown): Map<string, string> {
  const out = new Map<string, string>();
  const items = Array.isArray(data) ? data : data === undefined ? [] : [data];
  for (const item of items) {
    const s = Buffer.isBuffer(item) ? item.toString('utf8') : typeof item === 'string' ? item : undefined;
    if (s === undefined) continue;
    const eq = s.indexOf('=');
    if (eq > 0) out.set(s.slice(0, eq).toLowerCase(), s.slice(eq + 1));
  }
  return out;
}

/** The devices whose PTR, SRV, TXT (with id and fn) and A are all known. */
export function devicesFrom(records: MdnsRecords): DiscoveredDevice[] {
  const out: DiscoveredDevice[] = [];
  for (const instance of records.ptr) {
    const srv = records.srv.get(instance);
    const txt = records.txt.get(instance);
    const host = srv ? records.a.get(srv.target) : undefined;
    const id = txt?.get('id');
    const name = txt?.get('fn');
    if (!srv || !txt || !host || !id || !name) continue;
    const rs = txt.get('rs');
    out.push({ id: id.toLowerCase().replaceAll('-', ''), name, model: txt.get('md'), host, port: srv.port, runningApp: rs || undefined, busy: txt.get('st') === '1', instance });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/** Which follow-up questions would complete what we have (a responder may answer PTR alone). */
function missingQuestions(records: MdnsRecords): Array<{ name: string; type: 'SRV' | 'TXT' | 'A' }> {
  const qs: Array<{ name: string; type: 'SRV' | 'TXT' | 'A' }> = [];
  for (const instance of records.ptr) {
    const srv = records.srv.get(instance);
    if (!srv) qs.push({ name: instance, type: 'SRV' });
    else if (!records.a.has(srv.target)) qs.push({ name: srv.target, type: 'A' });
    if (!records.txt.has(instance)) qs.push({ name: instance, type: 'TXT' });
  }
  return qs;
}

/**
 * Browses until `timeoutMs` or until `done(devices)` returns true. Resolves with every device
 * seen. Never throws for bad packets; a socket error rejects.
 */
export async function browse(opts: DiscoveryOptions, done?: (devices: DiscoveredDevice[]) => boolean): Promise<DiscoveredDevice[]> {
  const timeoutMs = opts.timeoutMs ?? 3_000;
  const records = emptyRecords();
  const { mdns, target } = await openMdns(opts);
  return new Promise<DiscoveredDevice[]>((resolve, reject) => {
    let finished = false;
    const finish = (err?: Error) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      clearInterval(requery);
      mdns.destroy();
      if (err) reject(err);
      else resolve(devicesFrom(records));
    };
    const query = (questions: Array<{ name: string; type: 'PTR' | 'SRV' | 'TXT' | 'A' }>) => {
      if (questions.length) mdns.query({ questions }, target as never, (err: Error | null) => err && opts.log?.debug({ err: err.message }, 'mDNS query failed'));
    };
    mdns.on('response', (res) => {
      addRecords(records, [...(res.answers ?? []), ...(res.additionals ?? [])]);
      if (done?.(devicesFrom(records))) finish();
      else query(missingQuestions(records));
    });
    mdns.on('warning', (err: Error) => opts.log?.debug({ err: err.message }, 'mDNS: ignored a bad packet'));
    mdns.on('error', (err: Error) => finish(err));
    const timer = setTimeout(() => finish(), timeoutMs);
    const requery = setInterval(() => query([{ name: CAST_SERVICE, type: 'PTR' }, ...missingQuestions(records)]), opts.requeryMs ?? 1_000);
    query([{ name: CAST_SERVICE, type: 'PTR' }]);
  });
}

async function openMdns(opts: DiscoveryOptions): Promise<{ mdns: makeMdns.MulticastDNS; target: { address: string; port: number } | undefined }> {
  const port = opts.port ?? 5353;
  const address = opts.address ?? '224.0.0.251';
  if (address === '224.0.0.251') {
    // The real network: join the group, queries and answers go to it.
    return { mdns: makeMdns({ port, interface: opts.interface }), target: undefined };
  }
  // A unicast or broadcast target (tests): our own socket on an ephemeral port; answers come back to it.
  const socket: Socket = createSocket({ type: 'udp4' });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, opts.interface ?? '127.0.0.1', () => {
      socket.removeListener('error', reject);
      resolve();
    });
  });
  socket.setBroadcast(true);
  return { mdns: makeMdns({ socket, multicast: false, bind: false, port }), target: { address, port } };
}

/** Every Cast device that answers within `timeoutMs`. */
export function discover(opts: DiscoveryOptions = {}): Promise<DiscoveredDevice[]> {
  return browse(opts);
}

/** The device whose friendly name is `name` (case-insensitive), as soon as it answers. */
export async function findByName(name: string, opts: DiscoveryOptions = {}): Promise<DiscoveredDevice | undefined> {
  const want = name.trim().toLowerCase();
  const match = (ds: DiscoveredDevice[]) => ds.find((d) => d.name.trim().toLowerCase() === want);
  return match(await browse(opts, (ds) => match(ds) !== undefined));
}

/** The device whose TXT `id` is `id` (dashes and case ignored). */
export async function findById(id: string, opts: DiscoveryOptions = {}): Promise<DiscoveredDevice | undefined> {
  const want = id.toLowerCase().replaceAll('-', '');
  const match = (ds: DiscoveredDevice[]) => ds.find((d) => d.id === want);
  return match(await browse(opts, (ds) => match(ds) !== undefined));
}

/** Discovery as the cast driver uses it, so tests can pass loopback options once. */
export interface Discovery {
  discover(): Promise<DiscoveredDevice[]>;
  findByName(name: string): Promise<DiscoveredDevice | undefined>;
  findById(id: string): Promise<DiscoveredDevice | undefined>;
}

export function createDiscovery(opts: DiscoveryOptions = {}): Discovery {
  return {
    discover: () => discover(opts),
    findByName: (name) => findByName(name, opts),
    findById: (id) => findById(id, opts),
  };
}
