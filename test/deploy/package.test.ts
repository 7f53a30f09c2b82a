// The npm package, as `npm pack` makes it: the Home Assistant add-on installs pagecast@<its version>
// from the registry, so what the package carries is what the add-on runs. npm itself lists the
// files, over a stand-in tree (every file of the repository, empty, plus the compiled files the
// CLI loads): the check holds whether or not dist/ is built here, and tsc never runs.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ROOT, read, repoFiles } from './deploy-files.js';

type Obj = Record<string, any>;
const pkg = JSON.parse(read('package.json')) as Obj;
const BIN_SOURCE = 'controller/cli/cli.ts';

/** Relative and bare specifiers a source loads at run time (type-only imports are erased by tsc). */
function specifiersOf(text: string): string[] {
  const code = text.replace(/^\s*(?:import|export) type [^;]*;/gm, '');
  const found = [
    ...code.matchAll(/\bfrom\s+'([^']+)'/g),
    ...code.matchAll(/\bimport\(\s*'([^']+)'\s*\)/g),
    ...code.matchAll(/\brequire(?:\.resolve)?\(\s*'([^']+)'\s*\)/g),
    // Files read from installed packages by path (the console's htmx and hls.js).
    ...code.matchAll(/'((?:@[\w.-]+\/)?[\w.-]+\/dist\/[^']+\.js)'/g),
  ];
  return found.map((m) => m[1]!);
}

/** Every source file the CLI can load, following imports (dynamic ones too) from the bin's source. */
function runtimeClosure(): { sources: string[]; packages: string[] } {
  const sources = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string): void => {
    if (sources.has(file)) return;
    sources.add(file);
    for (const s of specifiersOf(readFileSync(join(ROOT, file), 'utf8'))) {
      if (s.startsWith('.')) visit(posix.normalize(posix.join(posix.dirname(file), s.replace(/\.js$/, '.ts'))));
      else if (!s.startsWith('node:')) packages.add(s.startsWith('@') ? s.split('/').slice(0, 2).join('/') : s.split('/')[0]!);
    }
  };
  visit(BIN_SOURCE);
  return { sources: [...sources].sort(), packages: [...packages].sort() };
}

const closure = runtimeClosure();
const distOf = (source: string) => `dist/${source.replace(/\.ts$/, '.js')}`;
let packed: Set<string>;
let stage: string;

beforeAll(() => {
  stage = mkdtempSync(join(tmpdir(), 'pc-pack-'));
  const stub = (path: string, text = '') => {
    mkdirSync(dirname(join(stage, path)), { recursive: true });
    writeFileSync(join(stage, path), text);
  };
  for (const f of repoFiles()) stub(f);
  stub('package.json', read('package.json'));
  // What tsc writes beside each compiled file, and the compiled tests, benchmarks and demo.
  for (const s of closure.sources) for (const ext of ['', '.map']) stub(distOf(s) + ext);
  for (const f of ['dist/controller/cli/cli.d.ts', 'dist/controller/cli/demo.js', 'dist/test/fake-device/device.js', 'dist/bench/soak.js']) stub(f);
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: stage, encoding: 'utf8', env: { ...process.env, npm_config_loglevel: 'silent' } });
  packed = new Set((JSON.parse(out) as Array<{ files: Array<{ path: string }> }>)[0]!.files.map((f) => f.path));
});
afterAll(() => {
  if (stage) rmSync(stage, { recursive: true, force: true });
});

describe('the npm package', () => {
  it('the CLI loads nothing from the tests or benchmarks', () => {
    expect(closure.sources).toContain('controller/http/console/assets.ts');
    expect(closure.sources.filter((s) => !/^(controller|machines|specs)\//.test(s))).toEqual([]);
  });

  it('carries every compiled file the CLI can load, the bin among them', () => {
    expect(pkg.bin.pagecast).toBe(distOf(BIN_SOURCE));
    const missing = closure.sources.map(distOf).filter((f) => !packed.has(f));
    expect(missing).toEqual([]);
  });

  it('carries the schema, the examples, the systemd unit and the README, and no tests, benchmarks, sources or maps', () => {
    for (const f of ['package.json', 'README.md', 'pagecast.schema.json', 'deploy/systemd/pagecast.service']) expect(packed.has(f), f).toBe(true);
    const examples = repoFiles('examples');
    expect(examples.length).toBeGreaterThan(0);
    for (const f of examples) expect(packed.has(f), f).toBe(true);
    const stray = [...packed].filter((f) => /^(test|bench|docs|dist\/test|dist\/bench)\//.test(f) || /\.(ts|map)$/.test(f) || f.endsWith('/demo.js'));
    expect(stray).toEqual([]);
  });

  it('depends at run time only on its dependencies, never on a dev dependency', () => {
    expect(closure.packages).toEqual(expect.arrayContaining(['htmx.org', 'hls.js', 'castv2', 'playwright-core']));
    const notDeps = closure.packages.filter((p) => !(p in pkg.dependencies));
    expect(notDeps).toEqual([]);
  });

  it('builds itself before it is packed (npm publish, or an install from git)', () => {
    expect(pkg.scripts.prepack).toBe('npm run build');
  });

  it('is the version the Home Assistant add-on installs', () => {
    const addon = parse(read('deploy/home-assistant/pagecast/config.yaml')) as Obj;
    expect(addon.version).toBe(pkg.version);
  });
});
