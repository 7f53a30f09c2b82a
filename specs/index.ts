// The specs package: schema, loading with positions, diagnostics, resolution, JSON Schema,
// schedules and spec identity. It imports nothing else of the project.
export * from './schema.js';
export * from './duration.js';
export * from './load.js';
export * from './diagnostics.js';
export * from './resolve.js';
export * from './json-schema.js';
export * from './schedule.js';
export * from './rotation.js';
export * from './identity.js';
export * from './hash.js';
export * from './escape.js';
