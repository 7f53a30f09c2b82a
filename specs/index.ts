// The specs package: schema, loading with positions, diagnostics, resolution, JSON Schema.
export * from './schema.js';
export * from './duration.js';
export * from './load.js';
export * from './diagnostics.js';
export * from './resolve.js';
export * from './json-schema.js';
