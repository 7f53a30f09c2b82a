// The spec-file source without its watcher (each pass asked for by hand): a file found gone is
// looked at once more before its specs are dropped, so a save by rename (vim's backup renames the
// file away, then writes it anew) never stops a cast.
import { renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SpecFiles } from '../../../controller/sources/spec-files.js';
import { StateDir } from '../../../controller/sources/state-dir.js';
import { silentLogger } from '../../../machines/log.js';
import { tempDirs, waitUntil } from '../../helpers.js';

const temps = tempDirs();
const sources: SpecFiles[] = [];
afterEach(async () => {
  for (const s of sources.splice(0)) await s.stop();
  temps.removeAll();
});

const specText = (url: string) => `apiVersion: pagecast/v1
kind: CastSpec
metadata: { name: kitchen }
spec:
  device: Kitchen TV
  url: ${url}
`;

async function setup() {
  const dir = temps.make('pc-sf-');
  const state = new StateDir({ dir: temps.make('pc-sf-state-'), log: silentLogger() });
  await state.open();
  const changes: string[][] = [];
  const files = new SpecFiles({ dir, state, log: silentLogger(), watch: false, onChange: (names) => changes.push(names) });
  sources.push(files);
  writeFileSync(join(dir, 'k.yaml'), specText('https://ha.example/v1'));
  await files.start();
  expect(files.specs.get('kitchen')?.spec.spec.url).toBe('https://ha.example/v1');
  const pass = async () => {
    files.rescan();
    await files.idle();
  };
  return { dir, files, changes, pass };
}

describe('spec files: a file found gone', () => {
  it('keeps its specs through a save by rename: renamed away, then written anew', async () => {
    const { dir, files, changes, pass } = await setup();
    renameSync(join(dir, 'k.yaml'), join(dir, 'k.yaml~'));
    await pass(); // the pass that finds it gone
    expect(files.specs.has('kitchen')).toBe(true);
    writeFileSync(join(dir, 'k.yaml'), specText('https://ha.example/v2'));
    unlinkSync(join(dir, 'k.yaml~'));
    await pass();
    expect(files.specs.get('kitchen')?.spec.spec.url).toBe('https://ha.example/v2');
    expect(changes).toEqual([['kitchen']]); // the new version, once: never dropped on the way
  });

  it('drops its specs when it stays gone', async () => {
    const { dir, files, changes, pass } = await setup();
    unlinkSync(join(dir, 'k.yaml'));
    await pass();
    expect(files.specs.has('kitchen')).toBe(true);
    expect(changes).toEqual([]);
    await waitUntil(() => !files.specs.has('kitchen'), 2000, 'kitchen dropped after the grace');
    expect(changes).toEqual([['kitchen']]);
  });
});
