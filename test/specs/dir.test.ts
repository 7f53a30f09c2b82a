import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkNames, listSpecFiles, loadSpecDir, loadSpecFile } from '../../specs/load.js';
import { formatDiagnostic } from '../../specs/diagnostics.js';

const FIX = 'test/fixtures/specs';
const spec = (name: string) => `apiVersion: pagecast/v1\nkind: CastSpec\nmetadata:\n  name: ${name}\nspec:\n  device: TV\n  url: https://x.example/${name}\n`;

describe('loadSpecFile', () => {
  it('reports every problem of a broken file with its position', async () => {
    const r = await loadSpecFile(`${FIX}/broken/kitchen.yaml`);
    expect(r.specs).toEqual([]);
    expect(r.invalidNames).toEqual(['kitchen']);
    expect(r.diagnostics.map(formatDiagnostic)).toEqual([
      `${FIX}/broken/kitchen.yaml:8:12 spec.quality: expected 480p, 720p, 1080p or {width, height, fps}`,
      `${FIX}/broken/kitchen.yaml:11:16 spec.policy.backoff.initial: expected a duration like 2s, 5m or 1h, got "2 sec"`,
      `${FIX}/broken/kitchen.yaml:15:54 spec.schedule.windows[0].ends: unknown field "ends" (did you mean end?)`,
    ]);
  });

  it.each([
    ['missing file', `${FIX}/nope.yaml`, 'file not found'],
    ['a directory', `${FIX}/valid`, 'not a regular file'],
  ])('%s is a diagnostic, not a throw', async (_n, path, message) => {
    const r = await loadSpecFile(path);
    expect(r.diagnostics).toEqual([{ file: path, line: 1, column: 1, path: '', message, severity: 'error' }]);
  });
});

describe('loadSpecDir', () => {
  it('loads *.yaml and *.yml recursively, in order, and ignores other files', async () => {
    const r = await loadSpecDir(`${FIX}/valid`);
    expect(r.files).toEqual([`${FIX}/valid/home.yaml`, `${FIX}/valid/nested/shop.yml`]);
    expect(r.specs.map((s) => `${s.spec.metadata.name}@${s.file}:${s.line}:${s.column}`)).toEqual([
      `kitchen@${FIX}/valid/home.yaml:5:9`,
      `doorbell@${FIX}/valid/home.yaml:18:9`,
      `menu@${FIX}/valid/nested/shop.yml:4:9`,
    ]);
    expect(r.diagnostics).toEqual([]);
  });

  it('reports a name used twice on each occurrence and keeps neither', async () => {
    const r = await loadSpecDir(`${FIX}/collide`);
    expect(r.diagnostics.map(formatDiagnostic)).toEqual([
      `${FIX}/collide/a.yaml:4:9 metadata.name: name kitchen is also used at ${FIX}/collide/b.yaml:5:9`,
      `${FIX}/collide/b.yaml:5:9 metadata.name: name kitchen is also used at ${FIX}/collide/a.yaml:4:9`,
    ]);
    expect(r.specs.map((s) => s.spec.metadata.name)).toEqual(['hall']);
    expect(r.invalidNames).toEqual(['kitchen']);
  });

  it('reports a missing directory', async () => {
    const r = await loadSpecDir(`${FIX}/absent`);
    expect(r.diagnostics.map(formatDiagnostic)).toEqual([`${FIX}/absent:1:1 directory not found`]);
  });

  it('checkNames names every other place when a name is used three times', () => {
    const at = (file: string, line: number) => ({ spec: { metadata: { name: 'x' } }, file, line, column: 9 }) as never;
    const d = checkNames([at('a.yaml', 1), at('b.yaml', 2), at('c.yaml', 3)]);
    expect(d.map((x) => x.message)).toEqual([
      'name x is also used at b.yaml:2:9, c.yaml:3:9',
      'name x is also used at a.yaml:1:9, c.yaml:3:9',
      'name x is also used at a.yaml:1:9, b.yaml:2:9',
    ]);
  });
});

describe('a Kubernetes ConfigMap mount', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pagecast-cm-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  // The kubelet's layout: ..2024_xx/ holds the files, ..data -> ..2024_xx, and each visible
  // name is a symlink into ..data. An update writes a new timestamped dir and swaps ..data.
  async function publish(stamp: string, files: Record<string, string>) {
    await mkdir(join(dir, stamp));
    for (const [name, text] of Object.entries(files)) await writeFile(join(dir, stamp, name), text);
    await symlink(stamp, join(dir, '..data_tmp'));
    await rename(join(dir, '..data_tmp'), join(dir, '..data'));
    for (const name of Object.keys(files)) {
      await symlink(join('..data', name), join(dir, name)).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'EEXIST') throw e;
      });
    }
  }

  it('reads the visible files through ..data, not the timestamped directories', async () => {
    await publish('..2024_01_01_00_00_00.1', { 'a.yaml': spec('first'), 'b.yaml': spec('second') });
    let r = await loadSpecDir(dir);
    expect(r.files).toEqual([join(dir, 'a.yaml'), join(dir, 'b.yaml')]);
    expect(r.specs.map((s) => s.spec.metadata.name)).toEqual(['first', 'second']);

    await publish('..2024_01_02_00_00_00.2', { 'a.yaml': spec('first-v2'), 'b.yaml': spec('second') });
    r = await loadSpecDir(dir);
    expect(r.specs.map((s) => s.spec.metadata.name)).toEqual(['first-v2', 'second']);
    expect(r.diagnostics).toEqual([]);
  });

  it('skips dangling links and follows a symlinked directory once', async () => {
    await symlink('..data/gone.yaml', join(dir, 'gone.yaml'));
    await mkdir(join(dir, 'real'));
    await writeFile(join(dir, 'real', 'x.yaml'), spec('x'));
    await symlink('real', join(dir, 'alias'));
    await symlink('..', join(dir, 'real', 'loop'));
    expect(await listSpecFiles(dir)).toEqual([join(dir, 'alias', 'x.yaml')]);
  });
});
