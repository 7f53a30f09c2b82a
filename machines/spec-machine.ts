// The spec machine: one per spec. It follows the reconciler's assignment (play, scheduled,
// suspended, preempted), holds a stream lease while it plays and the cast actor that drives the
// device. Stopping is graceful and ordered: the cast stops the device first, then the lease is
// released (the stream stops when its last cast lets go).
import { assign, sendTo, setup, type ActorRefFrom } from 'xstate';
import type { CastSpec } from '../specs/schema.js';
import type { SpecChanges } from '../specs/identity.js';
import type { Components, ExitInfo } from './components.js';
import { castMachine, type StreamLease } from './cast-machine.js';
import type { Logger } from './log.js';

/** What the reconciler decided for a spec: play, or why not. */
export type Role = 'play' | 'scheduled' | 'suspended' | 'preempted' | 'conflict';

export interface Assignment {
  role: Role;
  /** For preempted: the spec that has the device; for conflict: the equal-priority holder. */
  by?: string;
  /** Next time this spec's schedule flips, ISO. */
  nextChange?: string;
}

export type StreamNotice = { type: 'servable' } | { type: 'componentExited'; component: 'display' | 'browser' | 'encoder'; info: ExitInfo };

export type HeldLease = StreamLease;

/** The stream registry as the spec machine sees it. Notices reach the holder until release. */
export interface StreamLeases {
  acquire(spec: CastSpec, holder: string, onNotice: (n: StreamNotice) => void): HeldLease;
  release(lease: HeldLease, holder: string): void;
}

export interface SpecMachineInput {
  name: string;
  spec: CastSpec;
  generation: string;
  assignment: Assignment;
  components: Components;
  leases: StreamLeases;
  log: Logger;
  now: () => number;
}

export type SpecEvent =
  | { type: 'ASSIGN'; assignment: Assignment }
  | { type: 'UPDATE'; spec: CastSpec; generation: string; assignment: Assignment; changes: SpecChanges }
  | { type: 'STOP' }
  | { type: 'CAST_CHANGED'; state: 'playing' | 'ended' }
  | { type: 'STREAM_NOTICE'; streamId: string; notice: StreamNotice };

interface SpecContext extends SpecMachineInput {
  lease?: HeldLease;
  oldLease?: HeldLease; // the stream being replaced, kept until the device plays the new one
  removing: boolean;
  recast: boolean;
  castEnded: boolean;
}

const plays = (a: Assignment) => a.role === 'play';

export const specMachine = setup({
  types: {
    context: {} as SpecContext,
    events: {} as SpecEvent,
    input: {} as SpecMachineInput,
  },
  actors: {
    cast: castMachine,
  },
  guards: {
    plays: ({ context }) => plays(context.assignment),
    stopsPlaying: ({ event }) => (event.type === 'ASSIGN' || event.type === 'UPDATE') && !plays(event.assignment),
    removing: ({ context }) => context.removing,
    recast: ({ context }) => context.recast,
    needsRecast: ({ context, event }) =>
      event.type === 'UPDATE' && (event.changes.cast && deviceChanged(context.spec, event.spec) || context.castEnded),
  },
  actions: {
    acquire: assign({
      lease: ({ context, self }) => context.lease ?? acquireFor(context, context.spec, self),
      castEnded: false,
    }),
    releaseAll: assign(({ context }) => {
      if (context.lease) context.leases.release(context.lease, context.name);
      if (context.oldLease) context.leases.release(context.oldLease, context.name);
      return { lease: undefined, oldLease: undefined };
    }),
    releaseOld: assign(({ context }) => {
      if (context.oldLease) context.leases.release(context.oldLease, context.name);
      return { oldLease: undefined };
    }),
  },
}).createMachine({
  id: 'spec',
  context: ({ input }) => ({ ...input, removing: false, recast: false, castEnded: false }),
  initial: 'route',
  on: {
    STOP: { target: '.released', actions: assign({ removing: true }) },
  },
  states: {
    route: {
      always: [
        { guard: 'removing', target: 'stopped' },
        { guard: 'plays', target: 'active' },
        { guard: ({ context }) => context.assignment.role === 'suspended', target: 'suspended' },
        { guard: ({ context }) => context.assignment.role === 'scheduled', target: 'scheduled' },
        { target: 'preempted' },
      ],
    },
    scheduled: { on: { ASSIGN: reroute(), UPDATE: rerouteUpdate() } },
    suspended: { on: { ASSIGN: reroute(), UPDATE: rerouteUpdate() } },
    preempted: { on: { ASSIGN: reroute(), UPDATE: rerouteUpdate() } },
    active: {
      entry: 'acquire',
      invoke: [
        {
          id: 'cast',
          src: 'cast',
          input: ({ context }) => ({
            name: context.name,
            spec: context.spec,
            lease: context.lease!,
            components: context.components,
            log: context.log,
            now: context.now,
          }),
          onDone: { target: 'released' },
        },
      ],
      on: {
        STOP: { target: '.stopping', actions: [assign({ removing: true }), sendTo('cast', { type: 'STOP' })] },
        STREAM_NOTICE: [
          // Notices from a stream being replaced are not the cast's business.
          { guard: ({ context, event }) => event.streamId !== context.lease?.streamId },
          {
            guard: ({ event }) => event.notice.type === 'servable',
            actions: sendTo('cast', { type: 'STREAM_SERVABLE' }),
          },
          {
            guard: ({ event }) => event.notice.type === 'componentExited' && event.notice.component === 'encoder',
            actions: sendTo('cast', ({ event }) => ({
              type: 'ENCODER_EXITED' as const,
              info: (event as Extract<SpecEvent, { type: 'STREAM_NOTICE' }>).notice.type === 'componentExited'
                ? ((event as { notice: { info: ExitInfo } }).notice.info)
                : { reason: 'unknown' },
            })),
          },
        ],
        CAST_CHANGED: [
          { guard: ({ event }) => event.state === 'playing', actions: 'releaseOld' },
          // A cast that ended (teardown policy) or failed (budget spent) frees the stream.
          { actions: ['releaseAll', assign({ castEnded: true })] },
        ],
      },
      initial: 'running',
      states: {
        running: {
          on: {
            ASSIGN: [
              { guard: 'stopsPlaying', target: 'stopping', actions: [assign({ assignment: ({ event }) => event.assignment }), sendTo('cast', { type: 'STOP' })] },
              { actions: assign({ assignment: ({ event }) => event.assignment }) },
            ],
            UPDATE: [
              {
                guard: 'stopsPlaying',
                target: 'stopping',
                actions: [assignUpdate(), sendTo('cast', { type: 'STOP' })],
              },
              {
                guard: 'needsRecast',
                target: 'stopping',
                actions: [assignUpdate(), assign({ recast: true }), sendTo('cast', { type: 'STOP' })],
              },
              {
                guard: ({ event }) => event.changes.stream,
                actions: [
                  assign(({ context, event, self }) => {
                    const e = event as Extract<SpecEvent, { type: 'UPDATE' }>;
                    const next = acquireFor(context, e.spec, self);
                    if (context.oldLease) context.leases.release(context.oldLease, context.name);
                    return { spec: e.spec, generation: e.generation, assignment: e.assignment, oldLease: context.lease, lease: next };
                  }),
                  sendTo('cast', ({ context }) => ({ type: 'STREAM_CHANGED' as const, lease: context.lease! })),
                  sendTo('cast', ({ context }) => ({ type: 'SPEC_UPDATED' as const, spec: context.spec, reload: false })),
                ],
              },
              {
                actions: [
                  assignUpdate(),
                  sendTo('cast', ({ context, event }) => ({
                    type: 'SPEC_UPDATED' as const,
                    spec: context.spec,
                    reload: (event as Extract<SpecEvent, { type: 'UPDATE' }>).changes.cast,
                  })),
                ],
              },
            ],
          },
        },
        stopping: {
          on: {
            // Late updates while stopping only change what comes next.
            ASSIGN: { actions: assign({ assignment: ({ event }) => event.assignment }) },
            UPDATE: { actions: assignUpdate() },
          },
        },
      },
    },
    released: {
      always: [
        { guard: 'removing', target: 'stopped', actions: 'releaseAll' },
        // A device change re-casts on the same stream: keep the lease.
        { guard: ({ context }) => context.recast && plays(context.assignment), target: 'active', actions: assign({ recast: false }) },
        { target: 'route', actions: ['releaseAll', assign({ recast: false })] },
      ],
    },
    stopped: { type: 'final', entry: 'releaseAll' },
  },
});

function reroute() {
  return { target: 'route' as const, reenter: true, actions: assign<SpecContext, SpecEvent, undefined, SpecEvent, never>(({ event }) => (event.type === 'ASSIGN' ? { assignment: event.assignment } : {})) };
}

function rerouteUpdate() {
  return { target: 'route' as const, reenter: true, actions: assignUpdate() };
}

function assignUpdate() {
  return assign<SpecContext, SpecEvent, undefined, SpecEvent, never>(({ event }) => {
    if (event.type !== 'UPDATE') return {};
    return { spec: event.spec, generation: event.generation, assignment: event.assignment };
  });
}

function acquireFor(context: SpecContext, spec: CastSpec, self: { send(e: SpecEvent): void }): HeldLease {
  let streamId = '';
  const lease = context.leases.acquire(spec, context.name, (notice) => self.send({ type: 'STREAM_NOTICE', streamId, notice }));
  streamId = lease.streamId;
  return lease;
}

function deviceChanged(a: CastSpec, b: CastSpec): boolean {
  return JSON.stringify(a.spec.device) !== JSON.stringify(b.spec.device);
}

export type SpecActor = ActorRefFrom<typeof specMachine>;
