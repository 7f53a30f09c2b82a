// What Chromium needs from where it runs, beyond the kiosk flags (browser.ts's chromiumArgs):
//
// - A small /dev/shm. Chromium may create its shared memory regions in /dev/shm, and container
//   engines make it 64 MB by default; when it runs out, Chromium crashes even with memory to spare
//   (Debian bug 1072299, in gpu::ClientSharedImageInterface::CreateSharedImage). With less than
//   SMALL_SHM_BYTES free there, pagecast adds --disable-dev-shm-usage, which puts them in TMPDIR
//   (each browser's own temporary directory) instead. The limit is the one Debian's own
//   /usr/bin/chromium launcher applies, so a Chromium given by its binary's path (or a launcher that
//   miscounts, as it does where /dev/shm is mounted twice) behaves the same. Measured here
//   (Chromium 156, an animated 1080p page, 20 s, twice each way): 8.9-10.6 s of CPU without the flag,
//   10.3-10.8 s with it, within the runs' own spread, and nothing written to /dev/shm either way.
// - No sandbox. Chromium's sandbox needs user namespaces (or its setuid helper, which Debian does
//   not ship); a container engine's default seccomp profile refuses those to an unprivileged
//   process, and Chromium will not start as root with a sandbox at all. Root already gets
//   --no-sandbox (chromiumArgs); anyone else keeps the sandbox unless PAGECAST_CHROMIUM_NO_SANDBOX=1
//   says otherwise: for a container that can neither run as root nor relax seccomp, where the
//   container is the boundary. Nothing sets it by default; a normal host never needs it.
//
// Pure over the facts (uid, the size of /dev/shm, the environment); readChromiumHost gathers them.
import { statfsSync } from 'node:fs';
import { PagecastError } from '../errors.js';

/** With less free in /dev/shm, Chromium's shared memory goes to TMPDIR (Debian's launcher: "3.8 GB"). */
export const SMALL_SHM_BYTES = 4_080_218_931;

/** The environment variable that turns Chromium's sandbox off for a user other than root. */
export const NO_SANDBOX_ENV = 'PAGECAST_CHROMIUM_NO_SANDBOX';

export interface ChromiumHost {
  /** Chromium runs as root (it then always runs without its sandbox: chromiumArgs). */
  root: boolean;
  /** The bytes free in /dev/shm; undefined when there is none. */
  shmFreeBytes: number | undefined;
  env: Record<string, string | undefined>;
}

/** PAGECAST_CHROMIUM_NO_SANDBOX as a yes or no; anything else is an error that names it. */
export function noSandboxAsked(env: Record<string, string | undefined>): boolean {
  const v = env[NO_SANDBOX_ENV]?.trim().toLowerCase();
  if (v === undefined || v === '' || v === '0' || v === 'false' || v === 'no') return false;
  if (v === '1' || v === 'true' || v === 'yes') return true;
  throw new PagecastError('CONFIG', `${NO_SANDBOX_ENV}: expected 1 or 0, got "${env[NO_SANDBOX_ENV]!.slice(0, 40)}"`, { source: NO_SANDBOX_ENV });
}

/** The flags this host adds to chromiumArgs. */
export function chromiumHostArgs(h: ChromiumHost): string[] {
  const args: string[] = [];
  if (h.shmFreeBytes === undefined || h.shmFreeBytes < SMALL_SHM_BYTES) args.push('--disable-dev-shm-usage');
  if (!h.root && noSandboxAsked(h.env)) args.push('--no-sandbox');
  return args;
}

/** The facts of this process's host. */
export function readChromiumHost(env: NodeJS.ProcessEnv = process.env): ChromiumHost {
  let shmFreeBytes: number | undefined;
  try {
    const st = statfsSync('/dev/shm');
    shmFreeBytes = st.bavail * st.bsize;
  } catch {
    shmFreeBytes = undefined;
  }
  return { root: process.getuid?.() === 0, shmFreeBytes, env };
}
