// Secrets never reach a log line: URLs, headers, tokens and storage states, a rotation's pages included.
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../machines/log.js';

function capture() {
  const dest = new PassThrough();
  const chunks: string[] = [];
  dest.on('data', (d: Buffer) => chunks.push(d.toString()));
  return { log: createLogger({ level: 'info', destination: dest }), text: () => chunks.join('') };
}

describe('log redaction', () => {
  it('redacts URLs, headers, tokens and storage states at the top level, one level down and in pages', () => {
    const { log, text } = capture();
    log.info({ url: 'https://a.example/?k=S1', token: 'S2', spec: { url: 'https://b.example/S3', headers: { authorization: 'S4' } } }, 'one');
    log.info({ input: { browser: { headers: { cookie: 'S5' } }, pages: [{ url: 'https://c.example/S6', browser: { headers: { x: 'S7' }, storageState: '/secret/S8.json' } }] } }, 'two');
    log.info({ pages: [{ url: 'https://d.example/S9' }] }, 'three');
    const out = text();
    for (let i = 1; i <= 9; i++) expect(out).not.toContain(`S${i}`);
    expect(out.match(/\[redacted\]/g)!.length).toBeGreaterThanOrEqual(9);
    expect(out).toContain('"msg":"three"');
  });
});
