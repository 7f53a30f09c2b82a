// The spec actors: one per spec that has been started. Observing turns each into the facts plan()
// needs; executing turns plan()'s actions into events. Stops run in the background, so a slow
// device never holds up a reconcile; `onStopped` says when one is done (its device is free).
import { createActor, type Actor, type AnyActorRef, type Subscription } from 'xstate';
import type { CastSpec } from '../../specs/schema.js';
import { deviceKeyOf } from '../../specs/identity.js';
import type { Components } from '../../machines/components.js';
import type { Logger } from '../../machines/log.js';
import { specMachine, type StreamLeases } from '../../machines/spec-machine.js';
import { stopAndWait } from '../../machines/teardown.js';
import { longClock } from '../../machines/long-timer.js';
import { phaseOf } from '../status/status.js';
import type { Action, ObservedSpec } from './plan.js';

export type SpecActor = Actor<typeof specMachine>;

export interface SpecActorsOptions {
  components: Components;
  leases: StreamLeases;
  log: Logger;
  now: () => number;
  /** A spec's actor has stopped; its device may now be free for another spec. */
  onStopped(name: string, device: string): void;
  /** Something in a spec's actor (or its cast) changed: its status may read differently. */
  onChange?(name: string): void;
}

export class SpecActors {
  private readonly actors = new Map<string, SpecActor>();
  /** The spec version each actor runs. */
  readonly running = new Map<string, CastSpec>();
  /** Actor names by the device key of the spec they run. */
  private readonly byDevice = new Map<string, Set<string>>();
  private readonly stopping = new Set<Promise<void>>();
  private readonly stoppingNames = new Set<string>();
  private readonly clock = longClock();

  constructor(private readonly opts: SpecActorsOptions) {}

  get(name: string): SpecActor | undefined {
    return this.actors.get(name);
  }

  names(): IterableIterator<string> {
    return this.actors.keys();
  }

  /** The device key the named actor's spec is on. */
  deviceOf(name: string): string | undefined {
    const spec = this.running.get(name);
    return spec && deviceKeyOf(spec.spec.device);
  }

  devices(): IterableIterator<string> {
    return this.byDevice.keys();
  }

  /** Names of the actors whose spec is on this device. */
  onDevice(device: string): ReadonlySet<string> {
    return this.byDevice.get(device) ?? new Set();
  }

  /** What the named actors hold now, as plan() needs it (names without an actor are left out). */
  observe(names: Iterable<string>): Map<string, ObservedSpec> {
    const observed = new Map<string, ObservedSpec>();
    for (const name of names) {
      const actor = this.actors.get(name);
      if (!actor) continue;
      const snap = actor.getSnapshot();
      const phase = phaseOf(snap, snap.children.cast?.getSnapshot());
      observed.set(name, {
        name,
        generation: snap.context.generation,
        assignment: snap.context.assignment,
        holdsDevice: snap.matches('active') && phase !== 'Failed' && phase !== 'Stopped',
        failed: phase === 'Failed',
      });
    }
    return observed;
  }

  execute(actions: Action[]): void {
    for (const a of actions) {
      switch (a.type) {
        case 'stop':
          this.stop(a.name);
          break;
        case 'start': {
          const actor = createActor(specMachine, {
            // `after` delays safe at any length (a backoff or a poll never becomes a busy loop).
            clock: this.clock,
            input: {
              name: a.name,
              spec: a.desired.spec,
              generation: a.desired.generation,
              assignment: a.assignment,
              components: this.opts.components,
              leases: this.opts.leases,
              log: this.opts.log.child({ spec: a.name }),
              now: this.opts.now,
            },
          });
          this.actors.set(a.name, actor);
          this.setRunning(a.name, a.desired.spec);
          if (this.opts.onChange) watchChanges(actor, a.name, this.opts.onChange);
          actor.start();
          break;
        }
        case 'update':
          this.actors.get(a.name)!.send({ type: 'UPDATE', spec: a.desired.spec, generation: a.desired.generation, assignment: a.assignment, changes: a.changes });
          this.setRunning(a.name, a.desired.spec);
          break;
        case 'assign':
          this.actors.get(a.name)!.send({ type: 'ASSIGN', assignment: a.assignment });
          break;
      }
    }
  }

  /** Stops every actor (casts stop their devices first); resolves when all are gone. */
  async stopAll(): Promise<void> {
    for (const name of [...this.actors.keys()]) this.stop(name);
    await Promise.all([...this.stopping]);
  }

  private stop(name: string): void {
    const actor = this.actors.get(name);
    if (!actor || this.stoppingNames.has(name)) return;
    this.stoppingNames.add(name);
    const device = this.deviceOf(name)!;
    const done = stopAndWait(actor).then(() => {
      actor.stop();
      if (this.actors.get(name) === actor) {
        this.actors.delete(name);
        this.setRunning(name, undefined);
      }
      this.stopping.delete(done);
      this.stoppingNames.delete(name);
      this.opts.onStopped(name, device);
    });
    this.stopping.add(done);
  }

  private setRunning(name: string, spec: CastSpec | undefined): void {
    const before = this.deviceOf(name);
    if (before !== undefined) {
      const set = this.byDevice.get(before)!;
      set.delete(name);
      if (set.size === 0) this.byDevice.delete(before);
    }
    if (!spec) {
      this.running.delete(name);
      return;
    }
    this.running.set(name, spec);
    const after = deviceKeyOf(spec.spec.device);
    let set = this.byDevice.get(after);
    if (!set) this.byDevice.set(after, (set = new Set()));
    set.add(name);
  }
}

/**
 * Calls `onChange` on every snapshot of the spec actor and of the cast it holds now. Not an
 * `inspect` observer: that would be told of every event, action and microstep of all the spec's
 * actors (its cast's resolve, connect and load steps too), most of them changing nothing status
 * shows, and building those records costs about a sixth of a cold converge of 1,000 specs.
 */
function watchChanges(actor: SpecActor, name: string, onChange: (name: string) => void): void {
  let cast: AnyActorRef | undefined;
  let castSub: Subscription | undefined;
  actor.subscribe((snap) => {
    const now = snap.children.cast as AnyActorRef | undefined;
    if (now !== cast) {
      castSub?.unsubscribe();
      cast = now;
      // With an error handler: a cast that fails is its parent's business (the spec actor gets the
      // error event), as it was with no observer; without one XState would throw it from a timer.
      castSub = now?.subscribe({ next: () => onChange(name), error: () => onChange(name) });
    }
    onChange(name);
  });
}

