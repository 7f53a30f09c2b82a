import { execa } from 'execa';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { pipelineProcesses } from '../../bench/soak/procs.js';
import { childProcesses, tempDirs, waitUntil } from '../helpers.js';

const dirs = tempDirs();
const children = childProcesses();
afterEach(async () => {
  await children.killAll();
  dirs.removeAll();
});

describe('soak: pipeline processes', () => {
  it('counts a descendant started with a clean environment (a Chromium renderer) as its ancestor’s', async () => {
    const dir = dirs.make('pc-soak-procs-');
    // `sleep` named chromium, started as a renderer is (its command line says --type=renderer).
    const fake = join(dir, 'chromium');
    copyFileSync('/bin/sleep', fake);
    const owner = `t${process.pid}`;
    // sh has the owner; the "renderer" it starts has no environment at all.
    const sh = children.track(execa('sh', ['-c', `env -i bash -c "exec -a 'chromium --type=renderer' '${fake}' 30" & wait`], { env: { PAGECAST_OWNER: owner }, stdio: 'ignore', detached: true }));
    const found = await waitUntil(() => pipelineProcesses().find((p) => p.owner === owner && p.kind === 'renderer'), 5000, 'the renderer');
    expect(found.ppid).toBe(sh.pid);
    process.kill(-sh.pid!, 'SIGKILL');
    await waitUntil(() => !pipelineProcesses().some((p) => p.owner === owner), 5000, 'gone');
  });
});
