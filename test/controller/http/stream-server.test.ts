// The stream server over real HTTP on 127.0.0.1, with undici, against temp directories.
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Client, Pool } from 'undici';
import { createLogger, silentLogger } from '../../../machines/log.js';
import { PagecastError } from '../../../machines/errors.js';
import { StreamServer } from '../../../controller/http/stream-server.js';

const MASTER = '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=2000000,CODECS="avc1.640028,mp4a.40.2",RESOLUTION=1280x720\nstream.m3u8\n';
const MEDIA = '#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:2.0,\nseg_0.ts\n';
const SEG = Buffer.alloc(188 * 50, 0x47); // MPEG-TS-shaped bytes; content does not matter
const SECRET = 'top secret contents\n';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

let root: string;
let server: StreamServer;
let client: Client;

async function req(path: string, opts: { method?: string; headers?: Record<string, string>; via?: Client | Pool } = {}): Promise<Reply> {
  // undici sends `path` as given: no normalisation of dot segments or escapes, as an attacker would.
  const r = await (opts.via ?? client).request({ path, method: (opts.method ?? 'GET') as 'GET', headers: opts.headers });
  const body = Buffer.from(await r.body.arrayBuffer());
  return { status: r.statusCode, headers: r.headers, body };
}

async function makeStreamDir(name: string): Promise<string> {
  const dir = join(root, name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'master.m3u8'), MASTER);
  await writeFile(join(dir, 'stream.m3u8'), MEDIA);
  await writeFile(join(dir, 'seg_0.ts'), SEG);
  return dir;
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'pagecast-ss-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

beforeEach(async () => {
  server = new StreamServer({ host: '127.0.0.1', port: 0, log: silentLogger() });
  await server.start();
  client = new Client(`http://127.0.0.1:${server.port}`);
});
afterEach(async () => {
  await client.close();
  await server.stop();
});

describe('serving', () => {
  it('serves playlists and segments with their MIME types, cache policy and CORS', async () => {
    const dir = await makeStreamDir('mime');
    const { token, entry } = server.publish('mime', dir, 'hls');
    expect(entry).toBe('master.m3u8');

    const master = await req(`/s/${token}/master.m3u8`);
    expect(master.status).toBe(200);
    expect(master.body.toString()).toBe(MASTER);
    expect(master.headers['content-type']).toBe('application/vnd.apple.mpegurl');
    expect(master.headers['cache-control']).toBe('no-cache, no-store');
    expect(master.headers['access-control-allow-origin']).toBe('*');
    expect(master.headers['access-control-expose-headers']).toMatch(/Content-Range/);

    const media = await req(`/s/${token}/stream.m3u8`);
    expect(media.headers['content-type']).toBe('application/vnd.apple.mpegurl');

    const seg = await req(`/s/${token}/seg_0.ts`);
    expect(seg.status).toBe(200);
    expect(seg.headers['content-type']).toBe('video/mp2t');
    expect(seg.headers['content-length']).toBe(String(SEG.length));
    expect(seg.headers['cache-control']).toMatch(/immutable/);
    expect(seg.headers['access-control-allow-origin']).toBe('*');
    expect(seg.body.equals(SEG)).toBe(true);
  });

  it("serves the media playlist with a steady TARGETDURATION, not the 0 FFmpeg writes for the first 0.5 s segments (GET and HEAD alike)", async () => {
    // FFmpeg's own output for 0.5 s segments, as the encoder's ramp makes them.
    const dir = join(root, 'ramp');
    await mkdir(dir);
    execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc=s=64x48:r=10', '-t', '1.6', '-c:v', 'libx264', '-force_key_frames', 'expr:gte(t,n_forced*0.5)',
      '-f', 'hls', '-hls_time', '0.5', '-hls_list_size', '3', '-hls_flags', 'omit_endlist', join(dir, 'stream.m3u8')]);
    const { readFile } = await import('node:fs/promises');
    const written = await readFile(join(dir, 'stream.m3u8'), 'utf8');
    expect(written, 'FFmpeg writes 0 for a playlist of 0.5 s segments (the test shows the fix only if it does)').toContain('#EXT-X-TARGETDURATION:0\n');
    await writeFile(join(dir, 'master.m3u8'), MASTER);
    const { token } = server.publish('ramp', dir, 'hls');
    const get = await req(`/s/${token}/stream.m3u8`);
    expect(get.body.toString()).toBe(written.replace('#EXT-X-TARGETDURATION:0\n', '#EXT-X-TARGETDURATION:2\n'));
    expect(get.headers['content-length']).toBe(String(get.body.length));
    const head = await req(`/s/${token}/stream.m3u8`, { method: 'HEAD' });
    expect(head.headers['content-length']).toBe(String(get.body.length));
    const range = await req(`/s/${token}/stream.m3u8`, { headers: { range: 'bytes=0-40' } });
    expect(range.body.toString()).toBe(get.body.subarray(0, 41).toString());
  });

  it('serves an fMP4 stream: init segment and media segments', async () => {
    const dir = join(root, 'fmp4');
    await mkdir(dir);
    await writeFile(join(dir, 'master.m3u8'), MASTER);
    await writeFile(join(dir, 'init.mp4'), Buffer.from('init'));
    await writeFile(join(dir, 'seg_0.m4s'), Buffer.from('moof'));
    await writeFile(join(dir, 'seg_1.ts'), SEG);
    const { token } = server.publish('fmp4', dir, 'fmp4');
    const init = await req(`/s/${token}/init.mp4`);
    expect([init.status, init.headers['content-type'], init.headers['cache-control']]).toEqual([200, 'video/mp4', 'no-cache, no-store']);
    const m4s = await req(`/s/${token}/seg_0.m4s`);
    expect([m4s.status, m4s.headers['content-type'], m4s.body.toString()]).toEqual([200, 'video/iso.segment', 'moof']);
    // A .ts file in an fMP4 stream directory is not part of the stream.
    expect((await req(`/s/${token}/seg_1.ts`)).status).toBe(404);
  });

  it('answers HEAD with headers only and does not count it as a fetch', async () => {
    const dir = await makeStreamDir('head');
    const { token } = server.publish('head', dir, 'hls');
    const r = await req(`/s/${token}/seg_0.ts`, { method: 'HEAD' });
    expect(r.status).toBe(200);
    expect(r.headers['content-length']).toBe(String(SEG.length));
    expect(r.headers['content-type']).toBe('video/mp2t');
    expect(r.headers['access-control-allow-origin']).toBe('*');
    expect(r.body.length).toBe(0);
    expect(server.fetches('head')).toEqual([]);
  });

  it('serves byte ranges, and 416 with CORS past the end', async () => {
    const dir = await makeStreamDir('range');
    const { token } = server.publish('range', dir, 'hls');
    const r = await req(`/s/${token}/seg_0.ts`, { headers: { range: 'bytes=10-19' } });
    expect(r.status).toBe(206);
    expect(r.headers['content-range']).toBe(`bytes 10-19/${SEG.length}`);
    expect(r.body.equals(SEG.subarray(10, 20))).toBe(true);
    const past = await req(`/s/${token}/seg_0.ts`, { headers: { range: `bytes=${SEG.length}-` } });
    expect(past.status).toBe(416);
    expect(past.headers['content-range']).toBe(`bytes */${SEG.length}`);
    expect(past.headers['access-control-allow-origin']).toBe('*');
  });

  it('answers a CORS preflight with 204, including Private Network Access', async () => {
    const r = await req('/s/anything/master.m3u8', {
      method: 'OPTIONS',
      headers: { origin: 'https://www.gstatic.com', 'access-control-request-method': 'GET', 'access-control-request-headers': 'range', 'access-control-request-private-network': 'true' },
    });
    expect(r.status).toBe(204);
    expect(r.headers['access-control-allow-origin']).toBe('*');
    expect(String(r.headers['access-control-allow-headers'])).toMatch(/Range/);
    expect(String(r.headers['access-control-allow-methods'])).toMatch(/GET/);
    expect(r.headers['access-control-allow-private-network']).toBe('true');
  });

  it.each(['POST', 'PUT', 'DELETE', 'PATCH'])('refuses %s with 405, Allow and CORS, and changes nothing', async (method) => {
    const dir = await makeStreamDir(`m-${method}`);
    const { token } = server.publish(`m-${method}`, dir, 'hls');
    const r = await req(`/s/${token}/seg_0.ts`, { method });
    expect(r.status).toBe(405);
    expect(r.headers.allow).toBe('GET, HEAD, OPTIONS');
    expect(r.headers['access-control-allow-origin']).toBe('*');
    expect((await req(`/s/${token}/seg_0.ts`)).body.equals(SEG)).toBe(true);
  });

  it('answers malformed HTTP with 400 and CORS, and keeps serving', async () => {
    const raw = await new Promise<string>((resolve, reject) => {
      const s = connect(server.port, '127.0.0.1', () => s.write('GARBAGE\r\n\r\n'));
      let data = '';
      s.on('data', (d) => (data += d.toString()));
      s.on('end', () => resolve(data));
      s.on('error', reject);
    });
    expect(raw).toMatch(/^HTTP\/1\.1 400/);
    expect(raw).toMatch(/Access-Control-Allow-Origin: \*/);
    expect((await req('/')).status).toBe(404);
  });
});

describe('security', () => {
  let token: string;
  let dir: string;

  beforeEach(async () => {
    dir = await makeStreamDir(`sec-${Math.random().toString(36).slice(2)}`);
    await writeFile(join(dir, 'secret.txt'), SECRET);
    await writeFile(join(root, 'outside.m3u8'), SECRET);
    await writeFile(join(root, 'secret.ts'), SECRET);
    await symlink('/etc/hostname', join(dir, 'hostname.ts'));
    await symlink(join(root, 'outside.m3u8'), join(dir, 'out.m3u8'));
    await symlink('seg_0.ts', join(dir, 'alias.ts')); // even inside the dir: a link is not what FFmpeg writes
    await mkdir(join(dir, 'sub'));
    await writeFile(join(dir, 'sub', 'seg_9.ts'), SECRET);
    await mkdir(join(dir, 'dir.ts'));
    execFileSync('mkfifo', [join(dir, 'fifo.ts')]);
    token = server.publish('sec', dir, 'hls').token;
  });

  const traversal = (t: string): string[] => [
    `/s/${t}/`,
    `/s/${t}`,
    '/s/',
    '/',
    `/s/${t}/../secret.ts`,
    `/s/${t}/../../../../etc/passwd`,
    `/s/${t}/%2e%2e/secret.ts`,
    `/s/${t}/%2E%2E/secret.ts`,
    `/s/${t}/%252e%252e/secret.ts`,
    `/s/${t}/..%2fsecret.ts`,
    `/s/${t}/..%2Fsecret.ts`,
    `/s/${t}/..%5csecret.ts`,
    `/s/${t}/..\\secret.ts`,
    `/s/${t}/seg_0.ts%00.txt`,
    `/s/${t}/%2fetc%2fpasswd`,
    `/s/${t}//etc/passwd`,
    '/etc/passwd',
    '/etc/hostname',
    `/s/${t}/secret.txt`,
    `/s/${t}/hostname.ts`,
    `/s/${t}/out.m3u8`,
    `/s/${t}/alias.ts`,
    `/s/${t}/sub/seg_9.ts`,
    `/s/${t}/sub%2fseg_9.ts`,
    `/s/${t}/dir.ts`,
    `/s/${t}/fifo.ts`,
    `/s/${t}/missing.ts`,
    `/s/${t}/.m3u8`,
    `/s/${t.slice(0, -1)}${t.endsWith('A') ? 'B' : 'A'}/master.m3u8`, // one character off (1 in 64 tokens ends in A)
    `/s/${'A'.repeat(24)}/master.m3u8`,
  ];

  it('answers every traversal, listing, link, FIFO or non-stream file with the same 404, CORS included', async () => {
    const reference = await req(`/s/${'B'.repeat(24)}/master.m3u8`); // unknown token
    expect(reference.status).toBe(404);
    expect(reference.headers['access-control-allow-origin']).toBe('*');
    for (const path of traversal(token)) {
      const r = await req(path);
      expect({ path, status: r.status }).toEqual({ path, status: 404 });
      expect(r.headers['access-control-allow-origin'], path).toBe('*');
      // Identical to an unknown token: nothing tells a refused file from a missing one.
      expect(r.body.toString(), path).toBe(reference.body.toString());
      expect(r.headers['content-type'], path).toBe(reference.headers['content-type']);
      expect(r.body.toString(), path).not.toContain('secret');
    }
    // And the real files are still served after all that.
    expect((await req(`/s/${token}/seg_0.ts`)).body.equals(SEG)).toBe(true);
  });

  it('answers an unknown token and an unknown file identically', async () => {
    const a = await req(`/s/${'C'.repeat(24)}/master.m3u8`);
    const b = await req(`/s/${token}/nothere.m3u8`);
    const strip = (r: Reply): unknown => ({ status: r.status, body: r.body.toString(), headers: { ...r.headers, date: undefined } });
    expect(strip(a)).toEqual(strip(b));
  });

  it('stops serving a stream once unpublished', async () => {
    expect((await req(`/s/${token}/master.m3u8`)).status).toBe(200);
    server.unpublish('sec');
    expect((await req(`/s/${token}/master.m3u8`)).status).toBe(404);
    expect(server.fetches('sec')).toEqual([]);
  });
});

describe('publishing', () => {
  it('keeps the token when the same stream is republished with the same directory, not otherwise', async () => {
    const dir = await makeStreamDir('repub');
    const first = server.publish('repub', dir, 'hls');
    expect(server.publish('repub', join(dir, '.'), 'hls').token).toBe(first.token);
    const other = await makeStreamDir('repub2');
    const moved = server.publish('repub', other, 'hls');
    expect(moved.token).not.toBe(first.token);
    expect((await req(`/s/${first.token}/master.m3u8`)).status).toBe(404);
    expect((await req(`/s/${moved.token}/master.m3u8`)).status).toBe(200);
  });

  it('builds the device URL from the route, an advertised host or the bound address', async () => {
    const dir = await makeStreamDir('url');
    const { token } = server.publish('url', dir, 'hls');
    const url = server.urlFor('url', '127.0.0.1');
    expect(url).toBe(`http://127.0.0.1:${server.port}/s/${token}/master.m3u8`);
    const r = await client.request({ path: new URL(url).pathname, method: 'GET' });
    expect(r.statusCode).toBe(200);
    await r.body.text();
    expect(() => server.urlFor('nope', '127.0.0.1')).toThrow(PagecastError);

    // Never started: the default port 8181 is what the URL carries.
    const wildcard = new StreamServer({ log: silentLogger(), resolveLocal: async (h) => (h === '10.9.8.7' ? '10.9.8.1' : 'x') });
    wildcard.publish('url', dir, 'hls');
    expect(await wildcard.prepareRoute('10.9.8.7')).toBe('10.9.8.1');
    expect(wildcard.urlFor('url', '10.9.8.7')).toMatch(/^http:\/\/10\.9\.8\.1:8181\/s\/[A-Za-z0-9_-]{24}\/master\.m3u8$/);
    expect(wildcard.urlFor('url', '127.0.0.1')).toMatch(/^http:\/\/127\.0\.0\.1:8181\//);
    const advertised = new StreamServer({ advertiseHost: 'fe80::1', log: silentLogger() });
    advertised.publish('url', dir, 'hls');
    expect(advertised.urlFor('url', '10.9.8.7')).toMatch(/^http:\/\/\[fe80::1\]:8181\//);
  });

  it('logs the stream id on publish, never the token', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const logged = new StreamServer({ host: '127.0.0.1', port: 0, log: createLogger({ destination: sink, level: 'debug' }) });
    await logged.start();
    try {
      const dir = await makeStreamDir('logged');
      const { token } = logged.publish('logged-stream', dir, 'hls');
      const url = logged.urlFor('logged-stream', '127.0.0.1');
      const c = new Client(`http://127.0.0.1:${logged.port}`);
      await (await c.request({ path: new URL(url).pathname, method: 'GET' })).body.text();
      await (await c.request({ path: `/s/${token}/../x`, method: 'GET' })).body.text();
      await c.close();
      const text = lines.join('');
      expect(text).toContain('logged-stream');
      expect(text).toContain('stream published');
      expect(text).not.toContain(token);
    } finally {
      await logged.stop();
    }
  });

  it('refuses to start on a port in use, naming the address', async () => {
    const second = new StreamServer({ host: '127.0.0.1', port: server.port, log: silentLogger() });
    const err = await second.start().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PagecastError);
    expect((err as PagecastError).message).toContain(`127.0.0.1:${server.port}`);
    expect((err as PagecastError).message).toContain('EADDRINUSE');
  });

  it('stops while a client holds a keep-alive connection, and twice is fine', async () => {
    const s = new StreamServer({ host: '127.0.0.1', port: 0, log: silentLogger() });
    await s.start();
    const c = new Client(`http://127.0.0.1:${s.port}`, { keepAliveTimeout: 60_000 });
    await (await c.request({ path: '/', method: 'GET' })).body.text();
    await s.stop();
    await s.stop();
    await expect(c.request({ path: '/', method: 'GET' })).rejects.toThrow();
    await c.destroy();
  });
});

describe('fetch records', () => {
  it('records per client the last playlist fetch, the last segment fetch and bytes served', async () => {
    let t = Date.parse('2025-01-01T00:00:00.000Z');
    const s = new StreamServer({ host: '127.0.0.1', port: 0, log: silentLogger(), now: () => t });
    await s.start();
    const dir = await makeStreamDir('stats');
    const { token } = s.publish('stats', dir, 'hls');
    const events: unknown[] = [];
    const off = s.onFetch((streamId, who, kind, at) => events.push([streamId, who, kind, at]));
    s.onFetch(() => {
      throw new Error('a broken listener must not break serving');
    });
    // Linux answers on all of 127/8: a second loopback address stands in for a second TV.
    const tv1 = new Client(`http://127.0.0.1:${s.port}`, { localAddress: '127.0.0.1' });
    const tv2 = new Client(`http://127.0.0.1:${s.port}`, { localAddress: '127.0.0.2' });
    try {
      expect((await req(`/s/${token}/master.m3u8`, { via: tv1 })).status).toBe(200);
      t += 1000;
      await req(`/s/${token}/stream.m3u8`, { via: tv1 });
      t += 1000;
      await req(`/s/${token}/seg_0.ts`, { via: tv1 });
      await req(`/s/${token}/seg_0.ts`, { via: tv2, headers: { range: 'bytes=0-99' } });
      await req(`/s/${token}/missing.ts`, { via: tv2 }); // a 404 is not a fetch
      await req(`/s/${token}/seg_0.ts`, { via: tv2, method: 'HEAD' }); // nor is a HEAD
      off();
      t += 1000;
      await req(`/s/${token}/stream.m3u8`, { via: tv2 });
    } finally {
      await tv1.close();
      await tv2.close();
      await s.stop();
    }
    expect(s.fetches('stats')).toEqual([
      { client: '127.0.0.1', lastPlaylistAt: '2025-01-01T00:00:01.000Z', lastSegmentAt: '2025-01-01T00:00:02.000Z', bytes: MASTER.length + MEDIA.length + SEG.length },
      { client: '127.0.0.2', lastPlaylistAt: '2025-01-01T00:00:03.000Z', lastSegmentAt: '2025-01-01T00:00:02.000Z', bytes: 100 + MEDIA.length },
    ]);
    expect(events).toEqual([
      ['stats', '127.0.0.1', 'playlist', '2025-01-01T00:00:00.000Z'],
      ['stats', '127.0.0.1', 'playlist', '2025-01-01T00:00:01.000Z'],
      ['stats', '127.0.0.1', 'segment', '2025-01-01T00:00:02.000Z'],
      ['stats', '127.0.0.2', 'segment', '2025-01-01T00:00:02.000Z'],
    ]);
    expect(s.fetches('unknown')).toEqual([]);
  });
});

describe('segments FFmpeg deletes', () => {
  it('finishes a segment deleted while it is being sent', async () => {
    const dir = join(root, 'big');
    await mkdir(dir);
    const big = Buffer.alloc(16 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 4096) big.writeUInt32BE(i, i);
    await writeFile(join(dir, 'seg_big.ts'), big);
    const { token } = server.publish('big', dir, 'hls');
    const r = await client.request({ path: `/s/${token}/seg_big.ts`, method: 'GET' });
    expect(r.statusCode).toBe(200);
    const chunks: Buffer[] = [];
    let deleted = false;
    for await (const chunk of r.body) {
      chunks.push(chunk as Buffer);
      if (!deleted) {
        deleted = true;
        await unlink(join(dir, 'seg_big.ts')); // the open file keeps its bytes until closed
      }
    }
    expect(Buffer.concat(chunks).equals(big)).toBe(true);
    expect((await req(`/s/${token}/seg_big.ts`)).status).toBe(404);
  });

  it('answers 200 with the whole segment or 404 while segments are created and deleted, never an error', async () => {
    const dir = join(root, 'churn');
    await mkdir(dir);
    const { token } = server.publish('churn', dir, 'hls');
    const pool = new Pool(`http://127.0.0.1:${server.port}`, { connections: 8 });
    const seen = { ok: 0, missing: 0 };
    try {
      for (let round = 0; round < 40; round++) {
        const name = `seg_${round}.ts`;
        await writeFile(join(dir, name), SEG);
        const gets = Array.from({ length: 5 }, () => req(`/s/${token}/${name}`, { via: pool }));
        const del = new Promise((r) => setImmediate(r)).then(() => unlink(join(dir, name)));
        const [replies] = await Promise.all([Promise.all(gets), del]);
        for (const r of replies) {
          if (r.status === 200) {
            expect(r.body.equals(SEG)).toBe(true);
            seen.ok++;
          } else {
            expect(r.status).toBe(404);
            seen.missing++;
          }
        }
      }
    } finally {
      await pool.close();
    }
    expect(seen.ok + seen.missing).toBe(200);
    expect((await req(`/s/${token}/master.m3u8`)).status).toBe(404); // still alive, still strict
  });
});

describe('load', () => {
  it('stays correct over 500 concurrent requests mixing playlists, segments and refusals', async () => {
    const dir = await makeStreamDir('load');
    for (let i = 1; i < 10; i++) await writeFile(join(dir, `seg_${i}.ts`), Buffer.alloc(64 * 1024, i));
    const { token } = server.publish('load', dir, 'hls');
    const pool = new Pool(`http://127.0.0.1:${server.port}`, { connections: 16, pipelining: 1 });
    let expectedBytes = 0;
    const jobs: Promise<void>[] = [];
    try {
      for (let n = 0; n < 500; n++) {
        const kind = n % 5;
        if (kind === 0) {
          expectedBytes += MEDIA.length;
          jobs.push(req(`/s/${token}/stream.m3u8`, { via: pool }).then((r) => void expect([r.status, r.body.toString()]).toEqual([200, MEDIA])));
        } else if (kind === 4) {
          jobs.push(req(`/s/${token}/../seg_${n % 10}.ts`, { via: pool }).then((r) => void expect(r.status).toBe(404)));
        } else {
          const i = 1 + (n % 9);
          expectedBytes += 64 * 1024;
          jobs.push(
            req(`/s/${token}/seg_${i}.ts`, { via: pool }).then((r) => {
              expect(r.status).toBe(200);
              expect(r.body.length).toBe(64 * 1024);
              expect(r.body.every((b) => b === i)).toBe(true);
            }),
          );
        }
      }
      await Promise.all(jobs);
    } finally {
      await pool.close();
    }
    const [stats] = server.fetches('load');
    expect(stats?.bytes).toBe(expectedBytes);
  });
});
