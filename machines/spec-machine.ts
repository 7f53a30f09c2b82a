// The spec machine: one per spec. It follows the reconciler's assignment (play, scheduled,
// suspended, preempted), holds a stream lease while it plays and the cast actor that drives the
// device. Stopping is graceful and ordered: the cast stops the device first, then the lease is
// released (the stream stops when its last cast lets go). While the cast says its device is away
// (parked), the lease is marked parked: a stream whose every holder is parked stops its processes.
import { assign, sendTo, setup, type ActorRefFrom } from 'xstate';
import type { CastSpec } from '../specs/schema.js';
import { deviceKeyOf, type SpecChanges } from '../specs/identity.js';
import type { ExitInfo } from './components.js';
import { castMachine, type CastMachineInput, type CastNotice, type SpecScope, type StreamLease } from './cast-machine.js';

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
  /** The holder's device is away (true) or back (false); a stream every holder parks stops running. */
  park(lease: HeldLease, holder: string, parked: boolean): void;
  /**
   * Whether the held stream can take `spec` live: only its rotation changed (order, durations,
   * windows, pages), and this holder is its only one. Then `retarget` changes it in place: same
   * stream, same URL, no new LOAD, and only new or changed pages are loaded.
   */
  canRetarget?(lease: HeldLease, holder: string, spec: CastSpec): boolean;
  retarget?(lease: HeldLease, holder: string, spec: CastSpec): void;
}

export interface SpecMachineInput extends SpecScope {
  generation: string;
  assignment: Assignment;
  leases: StreamLeases;
}

export type SpecEvent =
  | { type: 'ASSIGN'; assignment: Assignment }
  | { type: 'UPDATE'; spec: CastSpec; generation: string; assignment: Assignment; changes: SpecChanges }
  | { type: 'STOP' }
  /** Asked for: give the device a new LOAD of the stream now. */
  | { type: 'RECAST' }
  | CastNotice
  | { type: 'STREAM_NOTICE'; streamId: string; notice: StreamNotice };

interface SpecContext extends SpecMachineInput {
  lease?: HeldLease;
  oldLease?: HeldLease; // the stream being replaced, kept until the device plays the new one
  removing: boolean;
  recast: boolean;
  castEnded: boolean;
  /** The cast said its device is away: the lease is held parked. */
  parked: boolean;
}

const plays = (a: Assignment) => a.role === 'play';

/** The cast actor's input: the spec's scope and the stream it holds. */
function castInput({ name, spec, components, log, now, lease }: SpecContext): CastMachineInput {
  return { name, spec, components, log, now, lease: lease! };
}

function exitInfoOf(event: SpecEvent): ExitInfo {
  return event.type === 'STREAM_NOTICE' && event.notice.type === 'componentExited' ? event.notice.info : { reason: 'unknown' };
}

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
    assignedSuspended: ({ context }) => context.assignment.role === 'suspended',
    assignedScheduled: ({ context }) => context.assignment.role === 'scheduled',
    stopsPlaying: ({ event }) => (event.type === 'ASSIGN' || event.type === 'UPDATE') && !plays(event.assignment),
    removing: ({ context }) => context.removing,
    // A device change re-casts on the same stream.
    recastHere: ({ context }) => context.recast && plays(context.assignment),
    needsRecast: ({ context, event }) =>
      event.type === 'UPDATE' && ((event.changes.cast && deviceKeyOf(context.spec.spec.device) !== deviceKeyOf(event.spec.spec.device)) || context.castEnded),
    streamChanged: ({ event }) => event.type === 'UPDATE' && event.changes.stream,
    // Only the rotation changed, on a stream nobody else holds: the stream takes it live.
    rotationChanged: ({ context, event }) =>
      event.type === 'UPDATE' && event.changes.stream && !!context.lease && !!context.leases.canRetarget?.(context.lease, context.name, event.spec),
    // Notices from a stream being replaced are not the cast's business.
    staleNotice: ({ context, event }) => event.type === 'STREAM_NOTICE' && event.streamId !== context.lease?.streamId,
    servableNotice: ({ event }) => event.type === 'STREAM_NOTICE' && event.notice.type === 'servable',
    encoderExitNotice: ({ event }) => event.type === 'STREAM_NOTICE' && event.notice.type === 'componentExited' && event.notice.component === 'encoder',
    castPlaying: ({ event }) => event.type === 'CAST_CHANGED' && event.state === 'playing',
    castParked: ({ event }) => event.type === 'CAST_CHANGED' && event.state === 'parked',
    castResumed: ({ event }) => event.type === 'CAST_CHANGED' && event.state === 'resumed',
  },
  actions: {
    acquire: assign(({ context, self }) => {
      // A lease kept across a re-cast may still be parked: the new cast starts with the device present.
      if (context.lease && context.parked) context.leases.park(context.lease, context.name, false);
      return { lease: context.lease ?? acquireFor(context, context.spec, self), castEnded: false, parked: false };
    }),
    releaseAll: assign(({ context }) => {
      if (context.lease) context.leases.release(context.lease, context.name);
      if (context.oldLease) context.leases.release(context.oldLease, context.name);
      return { lease: undefined, oldLease: undefined, parked: false };
    }),
    parkLease: assign(({ context }) => {
      if (context.lease) context.leases.park(context.lease, context.name, true);
      // The stream being replaced is only kept for the device to play: nothing plays it now.
      if (context.oldLease) context.leases.release(context.oldLease, context.name);
      return { parked: true, oldLease: undefined };
    }),
    unparkLease: assign(({ context }) => {
      if (context.lease && context.parked) context.leases.park(context.lease, context.name, false);
      return { parked: false };
    }),
    releaseOld: assign(({ context }) => {
      if (context.oldLease) context.leases.release(context.oldLease, context.name);
      return { oldLease: undefined };
    }),
    // A new stream for the same cast: the old one is kept until the device plays the new one.
    switchStream: assign(({ context, event, self }) => {
      if (event.type !== 'UPDATE') return {};
      const next = acquireFor(context, event.spec, self);
      // The device is still away: the new stream waits parked too.
      if (context.parked) context.leases.park(next, context.name, true);
      if (context.oldLease) context.leases.release(context.oldLease, context.name);
      return { spec: event.spec, generation: event.generation, assignment: event.assignment, oldLease: context.lease, lease: next };
    }),
    retargetStream: ({ context, event }) => {
      if (event.type === 'UPDATE') context.leases.retarget?.(context.lease!, context.name, event.spec);
    },
    takeAssignment: assign({
      assignment: ({ context, event }) => (event.type === 'ASSIGN' || event.type === 'UPDATE' ? event.assignment : context.assignment),
    }),
    takeUpdate: assign(({ event }) => (event.type === 'UPDATE' ? { spec: event.spec, generation: event.generation, assignment: event.assignment } : {})),
    markRemoving: assign({ removing: true }),
    markRecast: assign({ recast: true }),
    clearRecast: assign({ recast: false }),
    markCastEnded: assign({ castEnded: true }),
    stopCast: sendTo('cast', { type: 'STOP' }),
    recast: sendTo('cast', ({ context }) => ({ type: 'SPEC_UPDATED' as const, spec: context.spec, reload: true })),
    forwardServable: sendTo('cast', { type: 'STREAM_SERVABLE' }),
    forwardEncoderExit: sendTo('cast', ({ event }) => ({ type: 'ENCODER_EXITED' as const, info: exitInfoOf(event) })),
    announceStream: sendTo('cast', ({ context }) => ({ type: 'STREAM_CHANGED' as const, lease: context.lease! })),
    // A stream change re-LOADs anyway; otherwise a cast change (e.g. the title) asks for one.
    forwardSpec: sendTo('cast', ({ context, event }) => ({
      type: 'SPEC_UPDATED' as const,
      spec: context.spec,
      reload: event.type === 'UPDATE' && event.changes.cast && !event.changes.stream,
    })),
  },
}).createMachine({
  id: 'spec',
  context: ({ input }) => ({ ...input, removing: false, recast: false, castEnded: false, parked: false }),
  initial: 'route',
  on: {
    STOP: { target: '.released', actions: 'markRemoving' },
  },
  states: {
    route: {
      always: [
        { guard: 'removing', target: 'stopped' },
        { guard: 'plays', target: 'active' },
        { guard: 'assignedSuspended', target: 'suspended' },
        { guard: 'assignedScheduled', target: 'scheduled' },
        { target: 'preempted' },
      ],
    },
    scheduled: notPlaying(),
    suspended: notPlaying(),
    preempted: notPlaying(),
    active: {
      entry: 'acquire',
      invoke: { id: 'cast', src: 'cast', input: ({ context }) => castInput(context), onDone: { target: 'released' } },
      on: {
        STOP: { target: '.stopping', actions: ['markRemoving', 'stopCast'] },
        STREAM_NOTICE: [
          { guard: 'staleNotice' },
          { guard: 'servableNotice', actions: 'forwardServable' },
          { guard: 'encoderExitNotice', actions: 'forwardEncoderExit' },
        ],
        CAST_CHANGED: [
          { guard: 'castPlaying', actions: 'releaseOld' },
          { guard: 'castParked', actions: 'parkLease' },
          { guard: 'castResumed', actions: 'unparkLease' },
          // A cast that ended (teardown policy) or failed (budget spent) frees the stream.
          { actions: ['releaseAll', 'markCastEnded'] },
        ],
      },
      initial: 'running',
      states: {
        running: {
          on: {
            RECAST: { actions: 'recast' },
            ASSIGN: [{ guard: 'stopsPlaying', target: 'stopping', actions: ['takeAssignment', 'stopCast'] }, { actions: 'takeAssignment' }],
            UPDATE: [
              { guard: 'stopsPlaying', target: 'stopping', actions: ['takeUpdate', 'stopCast'] },
              { guard: 'needsRecast', target: 'stopping', actions: ['takeUpdate', 'markRecast', 'stopCast'] },
              { guard: 'rotationChanged', actions: ['retargetStream', 'takeUpdate', 'forwardSpec'] },
              { guard: 'streamChanged', actions: ['switchStream', 'announceStream', 'forwardSpec'] },
              { actions: ['takeUpdate', 'forwardSpec'] },
            ],
          },
        },
        stopping: {
          on: {
            // Late updates while stopping only change what comes next.
            ASSIGN: { actions: 'takeAssignment' },
            UPDATE: { actions: 'takeUpdate' },
          },
        },
      },
    },
    released: {
      always: [
        { guard: 'removing', target: 'stopped', actions: 'releaseAll' },
        // A device change re-casts on the same stream: keep the lease.
        { guard: 'recastHere', target: 'active', actions: 'clearRecast' },
        { target: 'route', actions: ['releaseAll', 'clearRecast'] },
      ],
    },
    stopped: { type: 'final', entry: 'releaseAll' },
  },
});

/** Scheduled, suspended or preempted: any new assignment or spec is routed again. */
function notPlaying() {
  return {
    on: {
      ASSIGN: { target: 'route', reenter: true, actions: 'takeAssignment' },
      UPDATE: { target: 'route', reenter: true, actions: 'takeUpdate' },
    },
  } as const;
}

function acquireFor(context: SpecContext, spec: CastSpec, self: { send(e: SpecEvent): void }): HeldLease {
  let streamId = '';
  const lease = context.leases.acquire(spec, context.name, (notice) => self.send({ type: 'STREAM_NOTICE', streamId, notice }));
  streamId = lease.streamId;
  return lease;
}

export type SpecActor = ActorRefFrom<typeof specMachine>;
