// The layer rule, checked in `npm test`: controller → machines → specs, never back, no cycles.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      severity: 'error',
      comment: 'A cycle hides which module is the lower layer.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'specs-imports-nothing-else',
      severity: 'error',
      comment: 'specs/ is the spec language: schema, loading, schedules, identity. It imports no other layer.',
      from: { path: '^specs/' },
      to: { path: '^(machines|controller|test|bench)/' },
    },
    {
      name: 'machines-import-only-specs',
      severity: 'error',
      comment: 'machines/ drive the pipeline; they see specs/, never the controller that runs them.',
      from: { path: '^machines/' },
      to: { path: '^(controller|test|bench)/' },
    },
    {
      name: 'controller-not-test-code',
      severity: 'error',
      comment: 'Product code does not import tests. The demo is the one exception: it runs the fake TV.',
      from: { path: '^controller/', pathNot: '^controller/cli/demo\\.ts$' },
      to: { path: '^(test|bench)/' },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.d.ts'] },
  },
};
