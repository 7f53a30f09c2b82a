// The flags Chromium gets from where it runs: --disable-dev-shm-usage only for a small /dev/shm (Debian's limit),
// --no-sandbox beyond root only when PAGECAST_CHROMIUM_NO_SANDBOX asks, and never by default.
import { describe, expect, it } from 'vitest';
import { NO_SANDBOX_ENV, SMALL_SHM_BYTES, chromiumHostArgs, noSandboxAsked, readChromiumHost } from '../../../machines/media/chromium-host.js';

const MB = 1024 * 1024;

describe('chromiumHostArgs', () => {
  it.each([
    ['a large host: 8 GB free in /dev/shm, a user, nothing asked', { root: false, shmFreeBytes: 8 * 1024 * MB, env: {} }, []],
    ['a host with 4 GB of RAM (2 GB of /dev/shm)', { root: false, shmFreeBytes: 2 * 1024 * MB, env: {} }, ['--disable-dev-shm-usage']],
    ['a container engine’s default /dev/shm (64 MB)', { root: false, shmFreeBytes: 64 * MB, env: {} }, ['--disable-dev-shm-usage']],
    ['just below the limit', { root: false, shmFreeBytes: SMALL_SHM_BYTES - 1, env: {} }, ['--disable-dev-shm-usage']],
    ['at the limit', { root: false, shmFreeBytes: SMALL_SHM_BYTES, env: {} }, []],
    ['no /dev/shm at all', { root: false, shmFreeBytes: undefined, env: {} }, ['--disable-dev-shm-usage']],
    ['asked, as a user', { root: false, shmFreeBytes: 8 * 1024 * MB, env: { [NO_SANDBOX_ENV]: '1' } }, ['--no-sandbox']],
    ['asked, as root (chromiumArgs already has it)', { root: true, shmFreeBytes: 8 * 1024 * MB, env: { [NO_SANDBOX_ENV]: '1' } }, []],
    ['said no', { root: false, shmFreeBytes: 8 * 1024 * MB, env: { [NO_SANDBOX_ENV]: '0' } }, []],
    ['both, in a small container', { root: false, shmFreeBytes: 64 * MB, env: { [NO_SANDBOX_ENV]: 'true' } }, ['--disable-dev-shm-usage', '--no-sandbox']],
  ] as const)('%s → %j', (_why, host, args) => {
    expect(chromiumHostArgs({ ...host, env: { ...host.env } })).toEqual(args);
  });
});

describe(NO_SANDBOX_ENV, () => {
  it('reads yes and no, and refuses anything else with its name', () => {
    for (const v of [undefined, '', '0', 'false', 'no', ' No ']) expect(noSandboxAsked({ [NO_SANDBOX_ENV]: v })).toBe(false);
    for (const v of ['1', 'true', 'yes', 'TRUE']) expect(noSandboxAsked({ [NO_SANDBOX_ENV]: v })).toBe(true);
    expect(() => noSandboxAsked({ [NO_SANDBOX_ENV]: 'please' })).toThrow(`${NO_SANDBOX_ENV}: expected 1 or 0, got "please"`);
  });
});

it('readChromiumHost reads this machine: root or not, and /dev/shm’s size', () => {
  const h = readChromiumHost({});
  expect(h.root).toBe(process.getuid?.() === 0);
  expect(h.shmFreeBytes === undefined || h.shmFreeBytes > 0).toBe(true);
  expect(h.env).toEqual({});
});
