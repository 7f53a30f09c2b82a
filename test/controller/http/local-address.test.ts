import { describe, expect, it } from 'vitest';
import type { NetworkInterfaceInfo } from 'node:os';
import { firstLanAddress, localAddressFor } from '../../../controller/http/local-address.js';
import { PagecastError } from '../../../machines/errors.js';

const v4 = (address: string, internal = false): NetworkInterfaceInfo => ({
  address,
  netmask: '255.255.255.0',
  family: 'IPv4',
  mac: '00:00:00:00:00:00',
  internal,
  cidr: `${address}/24`,
});

describe('localAddressFor', () => {
  it('finds 127.0.0.1 as the route to a loopback device', async () => {
    expect(await localAddressFor('127.0.0.1')).toBe('127.0.0.1');
  });

  it('rejects with an error naming the host when there is no route', async () => {
    // An unresolvable name under the reserved .invalid TLD fails at lookup; no packet leaves.
    const err = await localAddressFor('no-such-device.invalid', { timeoutMs: 3000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PagecastError);
    expect((err as PagecastError).code).toBe('CONNECT_FAILED');
    expect((err as PagecastError).message).toContain('no-such-device.invalid');
  });
});

describe('firstLanAddress', () => {
  it('skips loopback and prefers a real NIC over container bridges', () => {
    expect(
      firstLanAddress({ lo: [v4('127.0.0.1', true)], docker0: [v4('172.17.0.1')], eth0: [v4('192.168.1.5')] }),
    ).toBe('192.168.1.5');
    expect(firstLanAddress({ lo: [v4('127.0.0.1', true)], docker0: [v4('172.17.0.1')] })).toBe('172.17.0.1');
    expect(firstLanAddress({ lo: [v4('127.0.0.1', true)] })).toBeUndefined();
  });
});
