// The stream registry: one stream actor per distinct render input, refcounted by the casts that
// hold it. The last release stops the stream (encoder, browser, display, in that order), then
// unpublishes it and removes its files. A stream whose every holder is parked (its device away)
// is parked too: its processes stop, its directory and publication stay, so the URL the devices
// were given still holds when the first holder's device is back and the stream resumes.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { createActor, type Actor } from 'xstate';
import type { CastSpec } from '../../specs/schema.js';
import type { Components, RotationState, ShowPageResult } from '../../machines/components.js';
import { streamMachine } from '../../machines/stream-machine.js';
import { stopAndWait } from '../../machines/teardown.js';
import { longClock } from '../../machines/long-timer.js';
import type { HeldLease, StreamLeases, StreamNotice } from '../../machines/spec-machine.js';
import { streamInputOf, streamKeyOf, type StreamInput } from '../../specs/identity.js';
import { stableJson } from '../../specs/hash.js';
import { componentLogger, type Logger } from '../../machines/log.js';

type StreamActor = Actor<typeof streamMachine>;

interface Entry {
  id: string;
  /** The render input's key; a stream whose rotation changes in place gets the new one. */
  key: string;
  dir: string;
  actor: StreamActor;
  holders: Map<string, Holder>;
  servable: boolean;
  parked: boolean;
}

interface Holder {
  onNotice: (n: StreamNotice) => void;
  parked: boolean;
}

export interface StreamRegistryOptions {
  components: Components;
  log: Logger;
  /** The clock handed to the stream machines; Date.now unless told otherwise. */
  now?: () => number;
  /** A stream changed (a component up or down, a report, a page switch): its holders' status may read differently. */
  onChanged?(holders: string[]): void;
}

export class StreamRegistry implements StreamLeases {
  private readonly byKey = new Map<string, Entry>();
  private readonly byId = new Map<string, Entry>();
  private readonly stopping = new Set<Promise<void>>();
  private counter = 0;
  /** `after` delays safe at any length. */
  private readonly clock = longClock();

  constructor(private readonly opts: StreamRegistryOptions) {}

  acquire(spec: CastSpec, holder: string, onNotice: (n: StreamNotice) => void): HeldLease {
    const key = streamKeyOf(spec);
    const entry = this.byKey.get(key) ?? this.create(key, spec);
    entry.holders.set(holder, { onNotice, parked: false });
    this.syncParked(entry);
    return {
      streamId: entry.id,
      servable: () => entry.servable,
      url: (deviceHost: string) => this.opts.components.streams.urlFor(entry.id, deviceHost),
    };
  }

  release(lease: HeldLease, holder: string): void {
    const entry = this.byId.get(lease.streamId);
    if (!entry || !entry.holders.delete(holder)) return;
    if (entry.holders.size > 0) {
      this.syncParked(entry);
      return;
    }
    this.byKey.delete(entry.key);
    const done = this.stop(entry).finally(() => this.stopping.delete(done));
    this.stopping.add(done);
  }

  park(lease: HeldLease, holder: string, parked: boolean): void {
    const entry = this.byId.get(lease.streamId);
    const h = entry?.holders.get(holder);
    if (!entry || !h || h.parked === parked) return;
    h.parked = parked;
    this.syncParked(entry);
  }

  canRetarget(lease: HeldLease, holder: string, spec: CastSpec): boolean {
    const entry = this.byId.get(lease.streamId);
    if (!entry || entry.holders.size !== 1 || !entry.holders.has(holder)) return false;
    const now = entry.actor.getSnapshot().context.input;
    const next = streamInputOf(spec);
    if (!now.pages || !next.pages) return false;
    // Anything but the rotation is rendered by the display, the encoder or every page: a new stream.
    const frame = (i: StreamInput) => stableJson({ quality: i.quality, mode: i.mode, hwAccel: i.hwAccel, browser: i.browser });
    if (frame(now) !== frame(next)) return false;
    // Another stream already renders exactly this: share it instead.
    const other = this.byKey.get(streamKeyOf(spec));
    return other === undefined || other === entry;
  }

  retarget(lease: HeldLease, holder: string, spec: CastSpec): void {
    if (!this.canRetarget(lease, holder, spec)) return;
    const entry = this.byId.get(lease.streamId)!;
    this.byKey.delete(entry.key);
    entry.key = streamKeyOf(spec);
    this.byKey.set(entry.key, entry);
    this.opts.log.child({ stream: entry.id }).info('pages changed: the stream takes them live');
    entry.actor.send({ type: 'UPDATE_PAGES', input: streamInputOf(spec) });
  }

  /** Loads the stream's pages again (a rotation: each once it is off screen). False when no browser runs. */
  reloadPages(streamId: string): boolean {
    const browser = this.byId.get(streamId)?.actor.getSnapshot().context.browser;
    if (!browser?.reloadPages) return false;
    browser.reloadPages();
    return true;
  }

  /** Restarts the stream's display, browser and encoder; the playlist continues. False when it is not running. */
  restart(streamId: string): boolean {
    const entry = this.byId.get(streamId);
    if (!entry || entry.parked) return false;
    entry.actor.send({ type: 'RESTART' });
    return true;
  }

  /** Streams by id, for status: holders and the live stream actor. */
  get(streamId: string): { holders: string[]; actor: StreamActor } | undefined {
    const e = this.byId.get(streamId);
    return e && { holders: [...e.holders.keys()], actor: e.actor };
  }

  /** The rotation of a stream of a spec with `pages`, as its browser reports it now. */
  rotation(streamId: string): RotationState | undefined {
    return this.byId.get(streamId)?.actor.getSnapshot().context.browser?.rotation?.();
  }

  /** Brings page `index` of a rotating stream to the front and restarts its turn. */
  showPage(streamId: string, index: number): ShowPageResult {
    const browser = this.byId.get(streamId)?.actor.getSnapshot().context.browser;
    if (!browser?.showPage) return { ok: false, reason: 'not-ready', message: 'the stream has no browser running' };
    return browser.showPage(index);
  }

  get size(): number {
    return this.byId.size;
  }

  /** Stops every stream; resolves when all are gone. */
  async stopAll(): Promise<void> {
    for (const entry of [...this.byKey.values()]) {
      this.byKey.delete(entry.key);
      entry.holders.clear();
      const done = this.stop(entry);
      this.stopping.add(done);
    }
    await Promise.all([...this.stopping]);
  }

  private create(key: string, spec: CastSpec): Entry {
    const id = `${key}-${(++this.counter).toString(36)}`;
    const dir = join(this.opts.components.streamRoot, id);
    const input = streamInputOf(spec);
    this.opts.components.streams.publish(id, dir, input.mode);
    const log = this.opts.log.child({ stream: id });
    const actor = createActor(streamMachine, { clock: this.clock, input: { id, input, dir, components: this.opts.components, log, now: this.opts.now ?? Date.now } });
    const entry: Entry = { id, key, dir, actor, holders: new Map(), servable: false, parked: false };
    actor.on('changed', () => {
      this.opts.onChanged?.([...entry.holders.keys()]);
      const ctx = actor.getSnapshot().context;
      const servable = ctx.browserReady && ctx.encoderServable;
      const became = servable && !entry.servable;
      entry.servable = servable;
      if (became) this.notify(entry, { type: 'servable' });
    });
    actor.on('componentExited', (e) => {
      // Logged as the component's own line: `component` is the exited part, once, not beside 'streams'.
      componentLogger(log, e.component).warn({ reason: e.info.reason, code: e.info.code, signal: e.info.signal }, `${e.component} exited`);
      this.notify(entry, { type: 'componentExited', component: e.component, info: e.info });
    });
    this.byKey.set(key, entry);
    this.byId.set(id, entry);
    actor.start();
    log.info({ width: input.quality.width, height: input.quality.height, fps: input.quality.fps, mode: input.mode }, 'stream starting');
    return entry;
  }

  private notify(entry: Entry, notice: StreamNotice): void {
    // Asynchronously: a notice must never re-enter the sender's transition.
    for (const h of [...entry.holders.values()]) queueMicrotask(() => h.onNotice(notice));
  }

  /** A stream runs while any holder's device is present; when every one is away it is parked. */
  private syncParked(entry: Entry): void {
    const parked = entry.holders.size > 0 && [...entry.holders.values()].every((h) => h.parked);
    if (parked === entry.parked) return;
    entry.parked = parked;
    const log = this.opts.log.child({ stream: entry.id });
    if (parked) {
      log.info({ holders: [...entry.holders.keys()] }, 'every device of this stream is away: stream parked (display, browser and encoder stop)');
      entry.actor.send({ type: 'PARK' });
    } else {
      log.info('a device of this stream is back: stream resuming');
      entry.actor.send({ type: 'RESUME' });
    }
  }

  private async stop(entry: Entry): Promise<void> {
    entry.servable = false;
    await stopAndWait(entry.actor);
    entry.actor.stop();
    this.opts.components.streams.unpublish(entry.id);
    rmSync(entry.dir, { recursive: true, force: true });
    this.byId.delete(entry.id);
    this.opts.log.info({ stream: entry.id }, 'stream stopped');
  }
}
