// Server-sent events. One subscription to the control plane's change feed while anyone listens
// (none otherwise); each connection is told, in order, what changed for what it shows, and never
// the same event data twice in a row.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ControlPlane } from '../../status/types.js';

/** One SSE message; `data` may span lines. */
export interface SseEvent {
  event?: string;
  data: string;
  /** What a repeat is judged by (default: the event name): the same data under one key is not sent twice in a row. */
  key?: string;
}

export function formatEvent(e: SseEvent): string {
  const lines = e.data.split(/\r\n|\r|\n/).map((l) => `data: ${l}\n`);
  return `${e.event ? `event: ${e.event}\n` : ''}${lines.join('')}\n`;
}

/**
 * What one connection shows. `initial` is sent when it opens; `changed` for each batch of names
 * the control plane reports. Both may be async; a connection's sends never overtake each other.
 */
export interface Feed {
  initial(): SseEvent[] | Promise<SseEvent[]>;
  changed(names: string[]): SseEvent[] | Promise<SseEvent[]>;
}

/** A comment line this often keeps proxies from closing an idle stream. */
const HEARTBEAT_MS = 20_000;

export class EventHub {
  private readonly connections = new Set<{ names: (names: string[]) => void; close: () => void }>();
  private unsubscribe?: () => void;

  constructor(private readonly control: ControlPlane) {}

  get size(): number {
    return this.connections.size;
  }

  open(req: IncomingMessage, res: ServerResponse, feed: Feed): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      // A proxy must pass each event on at once, not buffer the stream.
      'x-accel-buffering': 'no',
    });
    res.write('retry: 2000\n\n');
    const last = new Map<string, string>();
    let chain: Promise<void> = Promise.resolve();
    let closed = false;
    const send = (make: () => SseEvent[] | Promise<SseEvent[]>) => {
      chain = chain.then(async () => {
        if (closed) return;
        let events: SseEvent[];
        try {
          events = await make();
        } catch {
          return; // a render that failed sends nothing; the next change tries again
        }
        let text = '';
        for (const e of events) {
          const key = e.key ?? e.event ?? 'message';
          if (last.get(key) === e.data) continue;
          last.set(key, e.data);
          text += formatEvent(e);
        }
        if (text && !closed) res.write(text);
      });
    };
    const heartbeat = setInterval(() => res.write(': ping\n\n'), HEARTBEAT_MS);
    heartbeat.unref();
    const conn = {
      names: (names: string[]) => send(() => feed.changed(names)),
      close: () => {
        if (closed) return;
        closed = true;
        clearInterval(heartbeat);
        this.connections.delete(conn);
        if (this.connections.size === 0) {
          this.unsubscribe?.();
          this.unsubscribe = undefined;
        }
        res.end();
      },
    };
    this.connections.add(conn);
    this.unsubscribe ??= this.control.subscribe((names) => {
      for (const c of [...this.connections]) c.names(names);
    });
    req.on('close', conn.close);
    res.on('close', conn.close);
    send(() => feed.initial());
  }

  /** Ends every stream (the server is closing). */
  closeAll(): void {
    for (const c of [...this.connections]) c.close();
  }
}
