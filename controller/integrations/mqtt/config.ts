// What `pagecast run` is told about the broker: --mqtt URL, and --mqtt-credentials, a small YAML
// file only its owner can read (as the API token file), whose values never reach a log line or
// an error message:
//   username: pagecast
//   password: a-long-secret
// Light on purpose (no mqtt client here): flags are checked before anything loads or starts.
import { readFile, stat } from 'node:fs/promises';
import { parse } from 'yaml';
import { z } from 'zod';
import { PagecastError } from '../../../machines/errors.js';

export const MqttCredentialsSchema = z.strictObject({
  username: z.string({ error: 'expected a user name' }).min(1, { error: 'expected a user name' }),
  password: z.string({ error: 'expected a password (quote it if YAML reads it as a number)' }).optional(),
});
export type MqttCredentials = z.infer<typeof MqttCredentialsSchema>;

export async function readMqttCredentials(path: string): Promise<MqttCredentials> {
  const fail = (why: string, cause?: unknown) => new PagecastError('CONFIG', `--mqtt-credentials ${path}: ${why}`, { source: path, cause });
  let mode: number;
  try {
    mode = (await stat(path)).mode;
  } catch (err) {
    throw fail((err as Error).message, err);
  }
  // A readable password is a way onto the broker, and through it to every TV.
  if ((mode & 0o077) !== 0) throw fail(`readable by others (mode ${(mode & 0o777).toString(8)}): run chmod 600 ${path}`);
  let data: unknown;
  try {
    data = parse(await readFile(path, 'utf8'));
  } catch {
    // The YAML error would quote the line, which may hold the password.
    throw fail('not YAML: expected "username: NAME" and "password: SECRET" lines');
  }
  const r = MqttCredentialsSchema.safeParse(data);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const where = issue.path.length ? `${issue.path.join('.')}: ` : '';
    throw fail(`${where}${issue.code === 'invalid_type' && !issue.path.length ? 'expected "username: NAME" and "password: SECRET" lines' : issue.message}`);
  }
  return r.data;
}

const PROTOCOLS = ['mqtt:', 'mqtts:', 'ws:', 'wss:'];

/** Checks a --mqtt URL; the error names the flag, never the URL's credentials. */
export function parseMqttUrl(text: string): string {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new PagecastError('CONFIG', '--mqtt: expected a broker URL like mqtt://127.0.0.1:1883');
  }
  if (!PROTOCOLS.includes(u.protocol)) throw new PagecastError('CONFIG', `--mqtt: expected mqtt://, mqtts://, ws:// or wss://, got ${u.protocol}//`);
  if (!u.hostname) throw new PagecastError('CONFIG', '--mqtt: the URL names no host');
  return text;
}
