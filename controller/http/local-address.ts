// Which of our addresses a device would see us at: the stream URL must use the local address
// that routes to the device (a LAN address for a TV, 127.0.0.1 for a loopback test device).
import { createSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';
import { PagecastError } from '../../machines/errors.js';

/**
 * The local address the kernel would use to reach `host`. A connected UDP socket picks its source
 * address from the routing table at connect(); no packet is sent (port 9 is "discard" anyway).
 */
export function localAddressFor(host: string, opts: { timeoutMs?: number } = {}): Promise<string> {
  const timeoutMs = opts.timeoutMs ?? 2000;
  return new Promise((resolve, reject) => {
    const socket = createSocket(isIPv6(host) ? 'udp6' : 'udp4');
    let settled = false;
    const finish = (err: Error | undefined, address?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      try {
        socket.close();
      } catch {
        // already closed: nothing to release
      }
      if (err) reject(err);
      else resolve(address!);
    };
    const fail = (why: string, cause?: unknown): void =>
      finish(new PagecastError('CONNECT_FAILED', `no local route to ${host}: ${why}`, { source: host, cause }));
    // A hostname goes through DNS inside connect(); do not wait on a resolver forever.
    const timer = setTimeout(() => fail(`no answer within ${timeoutMs} ms`, undefined), timeoutMs);
    socket.on('error', (err) => fail(err.message, err));
    try {
      socket.connect(9, host, () => {
        let address: string;
        try {
          address = socket.address().address;
        } catch (err) {
          fail((err as Error).message, err);
          return;
        }
        if (address === '0.0.0.0' || address === '::') fail('the kernel chose no source address');
        else finish(undefined, address);
      });
    } catch (err) {
      fail((err as Error).message, err);
    }
  });
}

/**
 * The first non-internal IPv4 address of this machine, for when no route was prepared for a
 * device. Kernel order, but container and VM bridges (docker0, br-*, virbr*, veth*) come last:
 * a TV is never behind them. Pure over the interface table; undefined when there is none.
 */
export function firstLanAddress(interfaces: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces()): string | undefined {
  const virtual = /^(docker|br-|virbr|veth|cni|flannel|podman)/;
  const names = Object.keys(interfaces);
  const ordered = [...names.filter((n) => !virtual.test(n)), ...names.filter((n) => virtual.test(n))];
  for (const name of ordered) {
    for (const info of interfaces[name] ?? []) {
      if (info.family === 'IPv4' && !info.internal) return info.address;
    }
  }
  return undefined;
}
