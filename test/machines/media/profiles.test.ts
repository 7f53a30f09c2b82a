// Chromium profiles of runs that died are removed at start, and only those (issue 9 point 9):
// real directories, owners and lock holders that are real live or dead processes.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { CHROMIUM_TMP_PREFIX, ownedProfilePrefix, removeStaleProfiles } from '../../../machines/media/browser.js';
import { processStartTime } from '../../../machines/processes/registry.js';
import { childProcesses, waitUntil } from '../../helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'pagecast-profiles-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const children = childProcesses();
afterEach(() => children.killAll());

/** A live process (wrapped: a subprocess is a thenable, which an async function would await). */
async function liveChild(): Promise<{ pid: number; process: ResultPromise }> {
  const c = execa('sleep', ['1000'], { reject: false });
  children.track(c);
  await waitUntil(() => processStartTime(c.pid!), 5_000, 'sleep to start');
  return { pid: c.pid!, process: c };
}

function profile(root: string, name: string, opts: { lockPid?: number; ageMs?: number } = {}): string {
  const dir = join(root, name);
  mkdirSync(join(dir, 'Default'), { recursive: true });
  writeFileSync(join(dir, 'Default', 'Preferences'), '{}');
  if (opts.lockPid !== undefined) symlinkSync(`${hostname()}-${opts.lockPid}`, join(dir, 'SingletonLock'));
  if (opts.ageMs) {
    const t = new Date(Date.now() - opts.ageMs);
    utimesSync(dir, t, t);
  }
  return dir;
}

describe('removeStaleProfiles', () => {
  it('removes profiles whose controller died, keeps those of live controllers and of live Chromiums', async () => {
    const root = join(tmp, 'a');
    mkdirSync(root);
    const owner = await liveChild(); // stands for another live controller
    const chromium = await liveChild(); // stands for a Chromium still running on a profile
    const dead = execa('true');
    await dead;
    const deadPid = dead.pid!;
    const ours = mkdtempSync(join(root, ownedProfilePrefix()));
    const p = {
      deadOwner: profile(root, `pagecast-profile-${deadPid}-12345-aaaaaa`),
      reusedOwnerPid: profile(root, `pagecast-profile-${owner.pid}-${processStartTime(owner.pid)! - 1}-bbbbbb`),
      liveOwner: profile(root, `pagecast-profile-${owner.pid}-${processStartTime(owner.pid)}-cccccc`),
      deadOwnerLiveLock: profile(root, `pagecast-profile-${deadPid}-12345-dddddd`, { lockPid: chromium.pid }),
      deadOwnerDeadLock: profile(root, `pagecast-profile-${deadPid}-12345-eeeeee`, { lockPid: deadPid }),
      legacyOld: profile(root, 'pagecast-profile-ffffff', { ageMs: 120_000 }),
      legacyFresh: profile(root, 'pagecast-profile-gggggg'),
      legacyOldLocked: profile(root, 'pagecast-profile-hhhhhh', { ageMs: 120_000, lockPid: chromium.pid }),
    };
    writeFileSync(join(root, 'pagecast-profile-not-a-dir'), '');
    mkdirSync(join(root, 'streams'));

    const removed = await removeStaleProfiles(root);
    expect(removed.sort()).toEqual([p.deadOwner, p.reusedOwnerPid, p.deadOwnerDeadLock, p.legacyOld].sort());
    expect(readdirSync(root).sort()).toEqual(
      [ours, p.liveOwner, p.deadOwnerLiveLock, p.legacyFresh, p.legacyOldLocked].map((d) => d.slice(root.length + 1)).concat(['pagecast-profile-not-a-dir', 'streams']).sort(),
    );

    // Once the other controller and the Chromium are gone, their profiles go too; ours stays.
    owner.process.kill('SIGKILL');
    chromium.process.kill('SIGKILL');
    await Promise.all([owner.process, chromium.process]);
    expect((await removeStaleProfiles(root)).sort()).toEqual([p.liveOwner, p.deadOwnerLiveLock, p.legacyOldLocked].sort());
    expect(readdirSync(root).filter((n) => n.startsWith('pagecast-profile-') && n !== 'pagecast-profile-not-a-dir').sort()).toEqual([ours.slice(root.length + 1), 'pagecast-profile-gggggg'].sort());
  });

  it('removes the Chromium temp directories (singleton sockets) a run that died left in the temp directory, not a live one\'s', async () => {
    const root = join(tmp, 'tmpdirs');
    mkdirSync(root);
    const owner = await liveChild();
    const dead = execa('true');
    await dead;
    const ours = mkdtempSync(join(root, ownedProfilePrefix(CHROMIUM_TMP_PREFIX)));
    const deadOwner = profile(root, `pc-chromium-${dead.pid!}-12345-aaaaaa`);
    const liveOwner = profile(root, `pc-chromium-${owner.pid}-${processStartTime(owner.pid)}-bbbbbb`);
    const legacyOld = profile(root, 'pc-chromium-cccccc', { ageMs: 120_000 });
    const profileOfDead = profile(root, `pagecast-profile-${dead.pid!}-12345-dddddd`); // not this sweep's
    expect((await removeStaleProfiles(root, { prefix: CHROMIUM_TMP_PREFIX })).sort()).toEqual([deadOwner, legacyOld].sort());
    expect(readdirSync(root).sort()).toEqual([ours, liveOwner, profileOfDead].map((d) => d.slice(root.length + 1)).sort());
  });

  it('is quiet about a root that does not exist', async () => {
    expect(await removeStaleProfiles(join(tmp, 'missing'))).toEqual([]);
  });
});
