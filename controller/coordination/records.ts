// What the etcd coordinator writes, where, and how it reads it back. Every value is JSON checked
// with zod on read: a key someone else wrote by hand (or an older pagecast) gives an error naming
// the key, never a crash or a guess.
import { z } from 'zod';

/** Keys of one site: `<prefix>/<site>/{instances,owners,status}/<name>`. */
export class SiteKeys {
  readonly root: string;
  constructor(prefix: string, site: string) {
    this.root = `${prefix.replace(/\/+$/, '')}/${site}/`;
  }
  get instances(): string {
    return `${this.root}instances/`;
  }
  get owners(): string {
    return `${this.root}owners/`;
  }
  get status(): string {
    return `${this.root}status/`;
  }
  instance(id: string): string {
    return this.instances + id;
  }
  owner(spec: string): string {
    return this.owners + spec;
  }
  statusOf(spec: string): string {
    return this.status + spec;
  }
}

export const InstanceRecord = z.strictObject({
  id: z.string().min(1),
  capacity: z.number().int().min(0),
  host: z.string(),
  pid: z.number().int(),
  startedAt: z.string(),
});
export type InstanceRecord = z.infer<typeof InstanceRecord>;

export const OwnerRecord = z.strictObject({
  instance: z.string().min(1),
  since: z.string(),
});
export type OwnerRecord = z.infer<typeof OwnerRecord>;

export const StatusRecord = z.strictObject({
  owner: z.string().min(1),
  at: z.string(),
  status: z.unknown(),
});
export type StatusRecord = z.infer<typeof StatusRecord>;

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

/** Parses a value read from etcd key `key`; the error names the key and what was wrong. */
export function parseRecord<T>(schema: z.ZodType<T>, key: string, raw: string): Parsed<T> {
  let data: unknown;
  try {
    data = JSON.parse(raw);
  } catch {
    return { ok: false, error: `etcd key ${key}: not JSON (${JSON.stringify(raw.slice(0, 40))}); pagecast did not write it` };
  }
  const r = schema.safeParse(data);
  if (r.success) return { ok: true, value: r.data };
  const issue = r.error.issues[0]!;
  const where = issue.path.length ? `${issue.path.join('.')}: ` : '';
  return { ok: false, error: `etcd key ${key}: ${where}${issue.message}` };
}

/** Names in keys: a spec name or instance id with a "/" would land in another key's place. */
export function checkKeyName(what: string, name: string): void {
  if (!name || name.includes('/')) throw new Error(`${what} ${JSON.stringify(name)}: expected a non-empty name without "/"`);
}
