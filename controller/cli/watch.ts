// `--watch`: draws what it watches again whenever the drawing changes. Where the states come
// from is a parameter: today `poll` reads the status API every second; when the API has its
// event stream (GET /api/v1/events), a reader of those events that yields the same values takes
// poll's place and nothing else here changes.
import { setTimeout as sleep } from 'node:timers/promises';

/** Cursor home, erase the screen: a terminal shows the new frame in place of the old. */
export const CLEAR_SCREEN = '\x1b[H\x1b[2J';

export interface WatchOptions<T> {
  /** Successive states; an Error is a failed read, drawn in place of the state until the next one. */
  states: AsyncIterable<T | Error>;
  render(state: T): string;
  renderError(err: Error): string;
  out(text: string): void;
  /** A terminal: clear the screen before each frame. Otherwise frames follow one another, a blank line apart. */
  tty: boolean;
  /** With no frame drawn yet, a failed read is thrown, not drawn: a wrong address fails at once. */
  failFirst?: boolean;
}

/** Draws each state whose text differs from the last frame's; returns when `states` ends. */
export async function watch<T>(o: WatchOptions<T>): Promise<void> {
  let last: string | undefined;
  for await (const state of o.states) {
    if (state instanceof Error && last === undefined && o.failFirst) throw state;
    const text = state instanceof Error ? o.renderError(state) : o.render(state);
    if (text === last) continue;
    o.out(o.tty ? `${CLEAR_SCREEN}${text}\n` : `${last === undefined ? '' : '\n'}${text}\n`);
    last = text;
  }
}

/**
 * `read()` now and every `intervalMs` after the last read ended, until `signal` aborts. A read
 * that fails yields its error and polling goes on; an abort ends the iteration at once, even
 * with a read under way (its answer is dropped).
 */
export async function* poll<T>(read: () => Promise<T>, o: { intervalMs: number; signal: AbortSignal }): AsyncGenerator<T | Error> {
  const aborted = new Promise<typeof ABORTED>((resolve) => {
    if (o.signal.aborted) resolve(ABORTED);
    else o.signal.addEventListener('abort', () => resolve(ABORTED), { once: true });
  });
  while (!o.signal.aborted) {
    const result = await Promise.race([read().catch((err: unknown) => (err instanceof Error ? err : new Error(String(err)))), aborted]);
    if (result === ABORTED) return;
    yield result;
    try {
      await sleep(o.intervalMs, undefined, { signal: o.signal });
    } catch {
      return; // aborted
    }
  }
}

const ABORTED = Symbol('aborted');
