// Shared by the cast tests: one self-signed key pair for every fake device, and cleanups run
// after each test, last first.
import { afterEach, beforeAll } from 'vitest';
import { selfSignedCert } from '../../fake-device/device.js';

export function castFixture(): { tls: () => { key: Buffer; cert: Buffer }; cleanups: Array<() => Promise<void> | void> } {
  let tls: { key: Buffer; cert: Buffer } | undefined;
  const cleanups: Array<() => Promise<void> | void> = [];
  beforeAll(async () => {
    tls = await selfSignedCert();
  });
  afterEach(async () => {
    while (cleanups.length) await cleanups.pop()!();
  });
  return { tls: () => tls!, cleanups };
}
