// Ordered asynchronous teardown. XState stops invoked actors synchronously, innermost state
// first; each cleanup appends its async stop here, so stops run one after another in that order
// (encoder, then browser, then display) and the owner can await the whole chain.
export class Teardown {
  private tail: Promise<void> = Promise.resolve();

  add(step: () => Promise<unknown> | unknown): void {
    this.tail = this.tail
      .then(() => step())
      .then(
        () => undefined,
        () => undefined, // a failed stop is logged by the component; the chain goes on
      );
  }

  /** Resolves once every step added so far has finished. */
  done(): Promise<void> {
    return this.tail;
  }
}

interface StoppableActor {
  getSnapshot(): { status: string };
  subscribe(o: { next?: (s: { status: string }) => void; error?: (e: unknown) => void; complete?: () => void }): { unsubscribe(): void };
  send(e: { type: 'STOP' }): void;
}

/** Sends STOP and resolves once the actor has reached its final state (or died). */
export function stopAndWait(actor: StoppableActor): Promise<void> {
  return new Promise((resolve) => {
    if (actor.getSnapshot().status !== 'active') return resolve();
    const sub = actor.subscribe({
      next: (s) => {
        if (s.status !== 'active') {
          sub.unsubscribe();
          resolve();
        }
      },
      error: () => resolve(),
      complete: () => resolve(),
    });
    actor.send({ type: 'STOP' });
  });
}
