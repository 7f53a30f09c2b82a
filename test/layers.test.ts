// The layer rule (controller → machines → specs, no cycles) is checked by dependency-cruiser in
// `npm test`; this proves the rule file catches what it must, on a small tree made for it.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cruise, type IConfiguration, type ICruiseResult } from 'dependency-cruiser';

const config = createRequire(import.meta.url)('../.dependency-cruiser.cjs') as IConfiguration;

async function violations(baseDir: string, dirs: string[]): Promise<string[]> {
  const r = await cruise(dirs, { validate: true, ruleSet: { forbidden: config.forbidden }, baseDir, doNotFollow: { path: 'node_modules' }, tsPreCompilationDeps: true, enhancedResolveOptions: { extensions: ['.ts', '.js'] } } as never);
  const output = r.output as ICruiseResult;
  return output.summary.violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`).sort();
}

describe('layer rule', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'pc-layers-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  const file = (path: string, text: string) => {
    mkdirSync(dirname(join(tmp, path)), { recursive: true });
    writeFileSync(join(tmp, path), text);
  };

  it('holds for this repository', async () => {
    expect(await violations(process.cwd(), ['controller', 'machines', 'specs'])).toEqual([]);
  });

  it('names a back-import and a cycle', async () => {
    file('specs/schema.ts', "export const s = 1;\n");
    file('specs/bad.ts', "import { m } from '../machines/m.js';\nexport const b = m;\n");
    file('machines/m.ts', "import { s } from '../specs/schema.js';\nexport const m = s;\n");
    file('machines/up.ts', "import { c } from '../controller/c.js';\nexport const u = c;\n");
    file('controller/c.ts', "import { m } from '../machines/m.js';\nimport { d } from './d.js';\nexport const c = m + d;\n");
    file('controller/d.ts', "import { c } from './c.js';\nexport const d = 1;\nexport const e = () => c;\n");
    const v = await violations(tmp, ['controller', 'machines', 'specs']);
    expect(v).toContain('specs-imports-nothing-else: specs/bad.ts → machines/m.ts');
    expect(v).toContain('machines-import-only-specs: machines/up.ts → controller/c.ts');
    expect(v.filter((x) => x.startsWith('no-cycles:'))).not.toEqual([]);
  });
});
