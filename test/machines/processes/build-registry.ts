// Fixture "controllers" run the real registry in a child process: transpile it, the modules it
// imports and the dead-man switch with its child into `buildDir` with their layout kept (so
// `../atomic-file.js` resolves) and inside the repository (so `execa` does). Returns the registry
// module's path; the others are beside it (processes/dead-man.js, processes/dead-man-child.js).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import ts from 'typescript';

export function buildRegistry(buildDir: string): string {
  const machines = join(import.meta.dirname, '../../../machines');
  for (const file of ['processes/registry', 'processes/procfs', 'processes/dead-man', 'processes/dead-man-child', 'processes/dead-man-rules', 'atomic-file', 'errors']) {
    const src = readFileSync(join(machines, `${file}.ts`), 'utf8');
    const js = ts.transpileModule(src, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
    mkdirSync(dirname(join(buildDir, file)), { recursive: true });
    writeFileSync(join(buildDir, `${file}.js`), js);
  }
  return join(buildDir, 'processes/registry.js');
}
