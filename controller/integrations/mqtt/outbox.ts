// The bridge's bounded queue: messages wait here while the broker is away or slow, the newest per
// key only (a retained state replaces the one before it), at most `limit` keys (the oldest goes
// first), and at most `inflight` handed to the client at once, so a slow broker's backlog stays
// here, bounded, rather than in the socket's buffers. Putting never waits for anything.
export interface Message {
  topic: string;
  payload: string;
  retain: boolean;
  qos: 0 | 1;
}

/** Hands one message to the client; `done` once it is written (or failed: the connection went). */
export type Send = (m: Message, done: (err?: Error | null) => void) => void;

export interface OutboxOptions {
  /** Most messages waiting. */
  limit: number;
  /** Most messages handed to the client and not yet written. */
  inflight: number;
  /** A waiting message was dropped to keep to the limit. */
  onDrop: (m: Message) => void;
}

export class Outbox {
  private readonly pending = new Map<string, Message>();
  private inflight = 0;
  private send?: Send;
  /** Counts connections, so a late callback from a closed one changes nothing. */
  private generation = 0;

  constructor(private readonly o: OutboxOptions) {}

  get size(): number {
    return this.pending.size;
  }

  /**
   * Queues a message, replacing any waiting under the same key (default: its topic). The key moves
   * to the back, so messages go out in the order they were last put.
   */
  put(m: Message, key = m.topic): void {
    this.pending.delete(key);
    this.pending.set(key, m);
    if (this.pending.size > this.o.limit) {
      const [oldest, dropped] = this.pending.entries().next().value as [string, Message];
      this.pending.delete(oldest);
      this.o.onDrop(dropped);
    }
    this.drain();
  }

  /** The connection is up: send through `send` from now on. */
  open(send: Send): void {
    this.send = send;
    this.drain();
  }

  /**
   * The connection is gone: hold messages from now on. What was in flight is lost with the
   * connection; the bridge sends everything again on the next connect.
   */
  close(): void {
    this.send = undefined;
    this.generation++;
    this.inflight = 0;
  }

  private drain(): void {
    while (this.send && this.inflight < this.o.inflight && this.pending.size > 0) {
      const [key, m] = this.pending.entries().next().value as [string, Message];
      this.pending.delete(key);
      this.inflight++;
      const generation = this.generation;
      let finished = false;
      this.send(m, () => {
        if (finished || generation !== this.generation) return;
        finished = true;
        this.inflight--;
        this.drain();
      });
    }
  }
}
