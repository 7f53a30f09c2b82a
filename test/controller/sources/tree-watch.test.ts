// The spec tree watcher on a real directory (inotify): a spec file's change is reported by its
// path; anything else that changes the tree asks for a listing; dot entries are not ours, except
// a ConfigMap's `..data` swap; directories are watched from the listing that reaches them.
import { mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TreeWatch } from '../../../controller/sources/tree-watch.js';
import { listSpecFiles } from '../../../specs/load.js';
import { tempDirs, waitUntil } from '../../helpers.js';

const temps = tempDirs();
const watches: TreeWatch[] = [];
afterEach(() => {
  for (const w of watches.splice(0)) w.close();
  temps.removeAll();
});

function setup() {
  const dir = temps.make('pc-tw-');
  const files: string[] = [];
  let trees = 0;
  const errors: string[] = [];
  const watch = new TreeWatch({ file: (p) => files.push(p), tree: () => trees++, error: (err, p) => errors.push(`${p}: ${err.message}`) });
  watches.push(watch);
  const list = async () => {
    const found = await listSpecFiles(dir, watch.visitor());
    return { found, added: watch.endListing() };
  };
  return { dir, files, trees: () => trees, errors, watch, list };
}

describe('tree watch', () => {
  it('reports a spec file by its path, and nothing for dot entries', async () => {
    const { dir, files, trees, errors, watch, list } = setup();
    expect((await list()).added).toBe(true);
    expect(watch.size()).toEqual({ dirs: 1, links: 0 });
    writeFileSync(join(dir, '.k.yaml.swp'), 'x'); // an editor's temp file
    writeFileSync(join(dir, 'k.yaml'), 'a: 1\n');
    await waitUntil(() => files.includes(join(dir, 'k.yaml')), 5000, 'k.yaml reported');
    expect(files.every((f) => f === join(dir, 'k.yaml'))).toBe(true);
    expect(trees()).toBe(0);
    expect(errors).toEqual([]);
  });

  it('asks for a listing for anything else; a new directory is watched from the listing that reaches it', async () => {
    const { dir, files, trees, watch, list } = setup();
    await list();
    mkdirSync(join(dir, 'hall'));
    await waitUntil(() => trees() > 0, 5000, 'a listing asked for');
    const again = await list();
    expect(again.added).toBe(true); // the caller lists once more: hall may have gained files before its watch
    expect((await list()).added).toBe(false);
    expect(watch.size().dirs).toBe(2);
    writeFileSync(join(dir, 'hall', 'h.yml'), 'a: 1\n');
    await waitUntil(() => files.includes(join(dir, 'hall', 'h.yml')), 5000, 'hall/h.yml reported');
    rmSync(join(dir, 'hall'), { recursive: true });
    await list();
    expect(watch.size().dirs).toBe(1);
  });

  it('asks for a listing when a ConfigMap swaps ..data', async () => {
    const { dir, trees, list } = setup();
    mkdirSync(join(dir, '..2026_01'));
    writeFileSync(join(dir, '..2026_01', 'k.yaml'), 'a: 1\n');
    symlinkSync('..2026_01', join(dir, '..data'));
    symlinkSync('..data/k.yaml', join(dir, 'k.yaml'));
    expect((await list()).found).toEqual([join(dir, 'k.yaml')]);
    const before = trees();
    mkdirSync(join(dir, '..2026_02'));
    writeFileSync(join(dir, '..2026_02', 'k.yaml'), 'a: 2\n');
    symlinkSync('..2026_02', join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
    await waitUntil(() => trees() > before, 5000, 'a listing asked for after the swap');
  });

  it('watches a spec file reached through a symlink: an edit of its target is reported by the link', async () => {
    const { dir, files, watch, list } = setup();
    const outside = temps.make('pc-tw-out-');
    writeFileSync(join(outside, 'tv.yaml'), 'a: 1\n');
    symlinkSync(join(outside, 'tv.yaml'), join(dir, 'tv.yaml'));
    await list();
    expect(watch.size()).toEqual({ dirs: 1, links: 1 });
    writeFileSync(join(outside, 'tv.yaml'), 'a: 2\n');
    await waitUntil(() => files.includes(join(dir, 'tv.yaml')), 5000, 'the link reported');
  });

  it('reports nothing once closed and holds no watch', async () => {
    const { dir, files, trees, watch, list } = setup();
    mkdirSync(join(dir, 'hall'));
    await list();
    expect(watch.size().dirs).toBe(2);
    watch.close();
    expect(watch.size()).toEqual({ dirs: 0, links: 0 });
    writeFileSync(join(dir, 'k.yaml'), 'a: 1\n');
    writeFileSync(join(dir, 'hall', 'h.yaml'), 'a: 1\n');
    // A second watch on the same directory sees the next write: by then the first would have too.
    const second = setup();
    const probe = new TreeWatch({ file: (p) => second.files.push(p), tree: () => undefined, error: () => undefined });
    watches.push(probe);
    await listSpecFiles(dir, probe.visitor());
    probe.endListing();
    writeFileSync(join(dir, 'z.yaml'), 'a: 1\n');
    await waitUntil(() => second.files.includes(join(dir, 'z.yaml')), 5000, 'the second watch saw z.yaml');
    expect(files).toEqual([]);
    expect(trees()).toBe(0);
  });
});
