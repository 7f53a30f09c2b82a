// --watch draws a frame only when its text changes; a terminal gets the screen cleared first.
import { describe, expect, it } from 'vitest';
import { CLEAR_SCREEN, poll, watch } from '../../../controller/cli/watch.js';

async function* states<T>(...xs: T[]): AsyncGenerator<T> {
  for (const x of xs) yield x;
}

const boom = (m: string) => new Error(m);

describe('watch', () => {
  it('draws a state only when its text differs from the last frame; a failed read is drawn until the next state', async () => {
    const out: string[] = [];
    await watch({ states: states<string | Error>('A', 'A', 'B', 'B', boom('down'), boom('down'), 'B'), render: (s) => `table ${s}`, renderError: (e) => `error: ${e.message}`, out: (t) => out.push(t), tty: false });
    expect(out).toEqual(['table A\n', '\ntable B\n', '\nerror: down\n', '\ntable B\n']);
  });

  it('clears the screen before each frame on a terminal, and only there', async () => {
    const out: string[] = [];
    await watch({ states: states('A', 'B'), render: (s) => s, renderError: String, out: (t) => out.push(t), tty: true });
    expect(out).toEqual([`${CLEAR_SCREEN}A\n`, `${CLEAR_SCREEN}B\n`]);
    expect(CLEAR_SCREEN).toBe('\x1b[H\x1b[2J');
  });

  it('with failFirst, a first read that fails is thrown, not drawn', async () => {
    const out: string[] = [];
    await expect(watch({ states: states<string | Error>(boom('not running')), render: String, renderError: String, out: (t) => out.push(t), tty: false, failFirst: true })).rejects.toThrow('not running');
    expect(out).toEqual([]);
  });
});

describe('poll', () => {
  it('reads, waits, reads again; a failed read yields its error and polling goes on; an abort ends it at once', async () => {
    const stop = new AbortController();
    let n = 0;
    const read = async () => {
      n++;
      if (n === 2) throw new Error('blip');
      if (n === 4) return new Promise<number>(() => {}); // never answers: the abort must still end the poll
      return n;
    };
    const seen: Array<number | string> = [];
    const t0 = Date.now();
    for await (const x of poll(read, { intervalMs: 20, signal: stop.signal })) {
      seen.push(x instanceof Error ? x.message : x);
      if (seen.length === 3) setTimeout(() => stop.abort(), 50);
    }
    expect(seen).toEqual([1, 'blip', 3]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(40); // two waits of 20 ms
    expect(n).toBe(4);
  });
});
