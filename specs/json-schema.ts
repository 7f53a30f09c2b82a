// The JSON Schema editors use (YAML language server modeline), generated from the zod schema so
// the two never disagree. Input side: what a user writes, defaults shown, durations as strings.
import { z } from 'zod';
import { API_VERSION, CastSpecSchema } from './schema.js';

export const SCHEMA_ID = 'https://pagecast.dev/schema/castspec-v1.json';

const APPLIES: Record<string, string> = {
  live: 'A change applies live, without restarting the pipeline.',
  cast: 'A change re-casts on the device; the stream keeps running.',
  stream: 'A change re-renders the stream; the device connection is kept.',
};

/**
 * The zod metadata `applies` says what a change costs; JSON Schema has no such keyword (strict
 * validators reject unknown ones), so it moves into the description where editors show it.
 */
function foldApplies(node: unknown): void {
  if (Array.isArray(node)) {
    node.forEach(foldApplies);
    return;
  }
  if (!node || typeof node !== 'object') return;
  const obj = node as Record<string, unknown>;
  if (typeof obj.applies === 'string') {
    const note = APPLIES[obj.applies] ?? '';
    obj.description = typeof obj.description === 'string' ? `${obj.description}. ${note}` : note;
    delete obj.applies;
  }
  for (const v of Object.values(obj)) foldApplies(v);
}

/**
 * Fields the zod schema names only to refuse them with a message saying where they go (a page's
 * `maxMemory`, a page's `timezone`) come out as `{not: {}}`; editors would offer them for
 * completion, so they are left out: `additionalProperties: false` refuses them all the same.
 */
function dropRefused(node: unknown): void {
  if (Array.isArray(node)) {
    node.forEach(dropRefused);
    return;
  }
  if (!node || typeof node !== 'object') return;
  const obj = node as Record<string, unknown>;
  const props = obj.properties as Record<string, Record<string, unknown>> | undefined;
  if (props && typeof props === 'object') {
    for (const [k, v] of Object.entries(props)) {
      const refused = Object.keys(v).length === 1 && v.not !== null && typeof v.not === 'object' && Object.keys(v.not as object).length === 0;
      if (refused) delete props[k];
    }
  }
  for (const v of Object.values(obj)) dropRefused(v);
}

/** The CastSpec JSON Schema (draft-07, which the YAML language server supports fully). */
export function castSpecJsonSchema(): Record<string, unknown> {
  const generated = z.toJSONSchema(CastSpecSchema, { io: 'input', target: 'draft-7', unrepresentable: 'any' }) as Record<string, unknown>;
  foldApplies(generated);
  dropRefused(generated);
  const { $schema, ...rest } = generated;
  return {
    $schema,
    $id: SCHEMA_ID,
    title: `pagecast CastSpec (${API_VERSION})`,
    description: 'A web page kept playing on a Chromecast or Google TV. One spec per YAML document; several documents per file are separated by ---.',
    ...rest,
  };
}
