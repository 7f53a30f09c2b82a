// Property tests of the stream server's path handling: whatever the request target (percent
// escapes, dot segments, backslashes, NULs, other tokens), only a published stream's playlist and
// segment files are served, everything else is a 4xx, never a 500, never a byte from outside.
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseStreamPath, StreamServer, streamFileType } from '../../../controller/http/stream-server.js';
import { silentLogger } from '../../../machines/log.js';

const SECRET = 'SECRET-OUTSIDE-THE-STREAM';
/** The files a published hls stream serves, by name, with their contents. */
const SERVED: Record<string, string> = {
  'master.m3u8': '#EXTM3U\n#master\n',
  'stream.m3u8': '#EXTM3U\n#media\n',
  'seg_0.ts': 'G'.repeat(376),
};

let root: string;
let dir: string;
let server: StreamServer;
let token: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'pagecast-fuzz-'));
  dir = join(root, 'stream');
  await mkdir(join(dir, 'sub'), { recursive: true });
  for (const [name, body] of Object.entries(SERVED)) await writeFile(join(dir, name), body);
  // Decoys: in the directory but not stream files, outside it, linked, nested.
  await writeFile(join(dir, 'secret.txt'), SECRET);
  await writeFile(join(dir, '.hidden.ts'), SECRET);
  await writeFile(join(root, 'secret.ts'), SECRET);
  await writeFile(join(root, 'secret.m3u8'), SECRET);
  await writeFile(join(dir, 'sub', 'seg_9.ts'), SECRET);
  await symlink(join(root, 'secret.ts'), join(dir, 'link.ts'));
  server = new StreamServer({ host: '127.0.0.1', port: 0, log: silentLogger() });
  await server.start();
  token = server.publish('fuzz', dir, 'hls').token;
});
afterAll(async () => {
  await server?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

// Pieces a request target is built from: the real token and names, every way of spelling a dot, a
// slash or a NUL, and some noise.
const piece = (): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom('/', 's', '/s/', '..', '.', '%2e', '%2E', '%2e%2e', '%2f', '%2F', '%5c', '%5C', '\\', '%00', '\0', '%252e', '%', '?', '#', '//', ';', ' ', '\t', '\r\n') },
    { weight: 6, arbitrary: fc.constantFrom(...Object.keys(SERVED), 'secret.txt', 'secret.ts', 'secret.m3u8', '.hidden.ts', 'link.ts', 'sub', 'seg_9.ts', 'stream') },
    { weight: 4, arbitrary: fc.constantFrom('TOKEN', 'TOKEN', 'A'.repeat(24)) },
    { weight: 2, arbitrary: fc.string({ maxLength: 6 }) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 4 }) },
  );
const target = (): fc.Arbitrary<string> =>
  fc.oneof(
    // A stream URL as a device asks for it, perhaps with a query.
    fc.tuple(fc.constantFrom(...Object.keys(SERVED)), fc.option(fc.array(piece(), { maxLength: 3 }))).map(([file, q]) => `/s/TOKEN/${file}${q ? `?${q.join('')}` : ''}`),
    // Shaped like one, with a piece or two changed or added.
    fc.tuple(fc.array(piece(), { maxLength: 3 }), fc.constantFrom(...Object.keys(SERVED), 'secret.ts', '..'), fc.array(piece(), { maxLength: 3 })).map(
      ([before, file, after]) => `/s/TOKEN/${before.join('')}${file}${after.join('')}`,
    ),
    fc.array(piece(), { minLength: 1, maxLength: 12 }).map((p) => p.join('')),
  );

/** The one served file a target names exactly (a query allowed), or undefined. */
function exactlyServed(t: string, tok: string): string | undefined {
  const path = t.split('?')[0]!;
  for (const name of Object.keys(SERVED)) if (path === `/s/${tok}/${name}`) return name;
  return undefined;
}

interface RawReply {
  status: number;
  body: string;
}

/** Sends the target as raw bytes (no client normalises anything) and reads the whole reply. */
function rawGet(port: number, t: string): Promise<RawReply> {
  return new Promise((done, fail) => {
    const sock = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    sock.on('connect', () => sock.write(Buffer.from(`GET ${t} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`, 'utf8')));
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('error', fail);
    sock.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(text)?.[1] ?? 0);
      done({ status, body: text.slice(text.indexOf('\r\n\r\n') + 4) });
    });
  });
}

describe('stream paths, by property', () => {
  it('parseStreamPath accepts only /s/<token>/<plain name>, and the name stays in the directory', () => {
    fc.assert(
      fc.property(target(), fc.constantFrom('abcdefghijklmnopqrstuvwx', 'A'.repeat(24)), (raw, tok) => {
        const t = raw.replaceAll('TOKEN', tok);
        const parsed = parseStreamPath(t);
        if (!parsed) return;
        expect(t.split('?')[0]).toBe(`/s/${parsed.token}/${parsed.file}`);
        expect(parsed.file).not.toMatch(/[/\\%\0]|^\.|\.\./);
        expect(dirname(resolve(dir, parsed.file))).toBe(dir);
      }),
      { numRuns: 5000 },
    );
  });

  it('over HTTP: a published file exactly named is served whole, anything else is a 4xx with nothing from outside', async () => {
    let served = 0;
    await fc.assert(
      fc.asyncProperty(target(), async (raw) => {
        const t = raw.replaceAll('TOKEN', token);
        const r = await rawGet(server.port, t);
        expect(r.status, t).toBeGreaterThanOrEqual(200);
        expect(r.status, t).toBeLessThan(500);
        expect(r.body, t).not.toContain(SECRET);
        // Spaces end the request target on the request line: trailing ones are not part of it.
        const name = exactlyServed(t.replace(/ +$/, ''), token);
        if (r.status < 300) {
          expect(name, `served ${JSON.stringify(t)}`).toBeDefined();
          expect(r.body).toBe(SERVED[name!]);
          expect(streamFileType(name!, 'hls')).toBeDefined();
          served++;
        } else {
          expect(r.status, t).toBeGreaterThanOrEqual(400);
        }
        // And a valid request for a served file is never refused.
        if (name !== undefined && /^[\x21-\x7e]*$/.test(t) && !t.includes('#')) expect(r.status, t).toBe(200);
      }),
      { numRuns: Number(process.env.FC_RUNS ?? 300) },
    );
    expect(served, 'the targets include served files').toBeGreaterThan(30);
  });
});
