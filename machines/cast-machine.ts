// The cast machine: resolve → connect → launch → (stream servable) → load → playing, then watch
// the device. Drift goes through the spec's policy, cheapest fix first: a device that went IDLE
// gets a new LOAD on the same connection; a lost connection is re-dialled and re-joined without a
// LOAD when our session still plays; another app is waited out (onOtherApp: wait) or replaced.
// Retries are visible states with `after` delays; the restart budget is counted over a window.
// The connection is a resource of the `connected` state: leaving that state closes the socket.
// A device away (unreachable, in standby, busy with another app) for policy.parkAfter parks the
// stream: the parent is told, the device is probed with backoff capped at PARKED_PROBE_MAX_MS, and
// the moment it answers again the parent is told to resume, so the stream restarts while we launch.
import { assign, enqueueActions, fromCallback, fromPromise, raise, sendParent, sendTo, setup } from 'xstate';
import type { CastSpec } from '../specs/schema.js';
import { otherAppOf, type CastConnection, type CastDrift, type Components, type ExitInfo, type ResolvedDevice, type StartContext } from './components.js';
import type { Logger } from './log.js';
import { RepeatedWarning } from './repeated-warning.js';

/** What the spec actor hands the cast: the stream it holds. */
export interface StreamLease {
  readonly streamId: string;
  servable(): boolean;
  url(deviceHost: string): string;
}

/** What the spec actor and the cast actor it holds are both given. */
export interface SpecScope {
  name: string;
  spec: CastSpec;
  components: Components;
  log: Logger;
  /** The clock: budgets, drift times and proof of life read it, so a simulated clock moves them all. */
  now: () => number;
}

export interface CastMachineInput extends SpecScope {
  lease: StreamLease;
}

export type CastEvent =
  | { type: 'DRIFT'; drift: CastDrift }
  | { type: 'STREAM_SERVABLE' }
  | { type: 'STREAM_CHANGED'; lease: StreamLease }
  | { type: 'ENCODER_EXITED'; info: ExitInfo }
  | { type: 'SPEC_UPDATED'; spec: CastSpec; reload: boolean }
  | { type: 'STOP' }
  /** Raised by the cast itself, policy.parkAfter after the device went away. */
  | { type: 'PARK_DUE' };

/**
 * What the cast tells its parent, the spec actor: playing, ended (the stream may go), parked (the
 * device has been away for policy.parkAfter: the stream may stop) and resumed (it answers again).
 */
export type CastNotice = { type: 'CAST_CHANGED'; state: 'playing' | 'ended' | 'parked' | 'resumed' };

/** Why a device counts as away. */
export type AwayReason = 'Unreachable' | 'Standby' | 'OtherApp';

export interface Away {
  reason: AwayReason;
  /** When this away period began (the clock's ms); kept while the reason changes. */
  since: number;
  /** The other app's name, for OtherApp. */
  app?: string;
}

export interface DriftRecord {
  reason: string;
  message?: string;
  at: string;
}

interface CastContext extends CastMachineInput {
  device?: ResolvedDevice;
  /** The open connection, owned by the `connection` actor (or by the graceful stop it hands it to). */
  conn?: CastConnection;
  attempt: number; // consecutive failures, for backoff
  restarts: number[]; // times of repaired drifts, for the budget
  restartCount: number; // all-time, for status
  lastDrift?: DriftRecord;
  lastError?: string;
  lastErrorStep?: 'resolve' | 'connect' | 'launch' | 'load';
  busyWith?: string; // the other app on the device
  standby: boolean;
  loads: number;
  playingSince?: number;
  /** Set while the device is away; cleared when it plays again (or answers after a park). */
  away?: Away;
  /** When the stream was parked for this cast (the clock's ms); undefined while not parked. */
  parkedAt?: number;
  /** "device unreachable, retrying": logged at its start, each backoff step and its end. */
  unreachable: RepeatedWarning;
}

/** Tells the `connection` actor that a graceful stop takes the socket over. */
type HandOver = { type: 'HAND_OVER' };

/** Three 2 s target durations, and a second of slack for the device's refresh timing. */
const STALL_AFTER_MS = 7000;
/** Proof of life is checked when the device's silence would pass STALL_AFTER_MS, at most once a second. */
const PROOF_OF_LIFE_MIN_MS = 1000;
/** While parked, an unreachable device is probed at least this often, so its return is seen soon. */
export const PARKED_PROBE_MAX_MS = 30_000;
/** How often a device busy with another app is checked: a read of the last receiver status, no request. */
const POLL_DEVICE_MS = 1000;

const isoAt = (ms: number) => new Date(ms).toISOString();

function describeDrift(d: CastDrift, now: number): DriftRecord {
  const at = isoAt(now);
  switch (d.type) {
    case 'IDLE':
      return { reason: `Idle${cap(d.idleReason)}`, message: d.detailedErrorCode ? `device went IDLE (${d.idleReason}, error ${d.detailedErrorCode})` : `device went IDLE (${d.idleReason})`, at };
    case 'LOAD_FAILED':
      return { reason: 'LoadFailed', message: d.message ?? `LOAD_FAILED${d.detailedErrorCode ? ` (error ${d.detailedErrorCode})` : ''}`, at };
    case 'APP_GONE':
      return { reason: 'SessionEnded', message: 'our cast session is no longer on the device (stopped from the TV or the Home app?)', at };
    case 'OTHER_APP':
      return { reason: 'OtherApp', message: `another app took the device: ${d.displayName ?? d.appId}`, at };
    case 'IDLE_SCREEN':
      return { reason: 'IdleScreen', message: 'the device fell to its ambient/idle screen', at };
    case 'STANDBY':
      return { reason: d.standby ? 'Standby' : 'Awake', message: d.standby ? 'the TV is in standby or on another input' : 'the TV woke up', at };
    case 'STALLED':
      return { reason: 'Stalled', message: d.message, at };
    case 'CONNECTION_LOST':
      return { reason: 'ConnectionLost', message: d.message, at };
  }
}

function cap(s: string): string {
  return s.charAt(0) + s.slice(1).toLowerCase();
}

function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

// An invoked step's done or error payload; setup()'s event type lists only the machine's own events.
const outputOf = <T>(event: unknown): T => (event as { output: T }).output;
const errorOf = (event: unknown): unknown => (event as { error: unknown }).error;

function stepContext(ctx: CastContext, signal: AbortSignal): StartContext {
  return { signal, log: ctx.log, report: () => undefined };
}

function backoffDelay(ctx: CastContext): number {
  const { initial, max } = ctx.spec.spec.policy.backoff;
  const cap = ctx.parkedAt === undefined ? max : Math.min(max, PARKED_PROBE_MAX_MS);
  return Math.min(cap, initial * 2 ** Math.max(0, ctx.attempt - 1));
}

/** What status and logs say about an away period. */
export function describeAway(a: Away): string {
  switch (a.reason) {
    case 'Unreachable':
      return 'the device is unreachable';
    case 'Standby':
      return 'the TV is in standby or on another input';
    case 'OtherApp':
      return `the device is showing ${a.app ?? 'another app'}`;
  }
}

function budgetSpent(ctx: CastContext): boolean {
  const { count, window } = ctx.spec.spec.policy.maxRestarts;
  const since = ctx.now() - window;
  return ctx.restarts.filter((t) => t >= since).length >= count;
}

/**
 * Proof of life from the server side: how long the device has fetched neither playlist nor
 * segment, counted from when it began playing. Undefined while it has fetched nothing at all.
 */
function fetchSilenceMs(ctx: CastContext): number | undefined {
  const host = ctx.device!.host;
  const stats = ctx.components.streams.fetches(ctx.lease.streamId).find((f) => f.client === host || f.client === `::ffff:${host}`);
  if (!stats) return undefined;
  const last = Math.max(ctx.playingSince ?? 0, Date.parse(stats.lastPlaylistAt ?? '') || 0, Date.parse(stats.lastSegmentAt ?? '') || 0);
  return ctx.now() - last;
}

/** Drift that a person caused on purpose or that ends our session: subject to onDeviceIdle. */
function isIdleKind(d: CastDrift): boolean {
  return d.type === 'IDLE' || d.type === 'APP_GONE' || d.type === 'IDLE_SCREEN' || d.type === 'LOAD_FAILED' || d.type === 'STALLED';
}

function isOtherSender(d: CastDrift): boolean {
  return d.type === 'OTHER_APP' || (d.type === 'IDLE' && d.idleReason === 'INTERRUPTED');
}

export const castMachine = setup({
  types: {
    context: {} as CastContext,
    events: {} as CastEvent,
    input: {} as CastMachineInput,
  },
  actors: {
    resolve: fromPromise<ResolvedDevice, CastContext>(({ input, signal }) => input.components.cast.resolve(input.spec.spec.device, stepContext(input, signal))),
    // Until it resolves the connection is the step's: an abort closes it.
    connect: fromPromise<CastConnection, CastContext>(({ input, signal }) => input.components.cast.connect(input.device!, stepContext(input, signal))),
    // Owns the connection while the cast is connected: forwards its drift, and closes it when
    // the state is left, unless a graceful stop has taken it over.
    connection: fromCallback<HandOver, { conn: CastConnection }>(({ input, sendBack, receive }) => {
      const { conn } = input;
      let handedOver = false;
      const off = conn.onDrift((drift) => sendBack({ type: 'DRIFT', drift }));
      receive(() => {
        handedOver = true;
      });
      return () => {
        off();
        if (!handedOver) conn.close();
      };
    }),
    launch: fromPromise<{ joined: boolean }, CastContext>(({ input }) => {
      const expectUrl = input.lease.servable() ? input.lease.url(input.device!.host) : undefined;
      return input.conn!.launch({ takeover: input.spec.spec.policy.onOtherApp === 'takeover', expectUrl });
    }),
    load: fromPromise<void, CastContext>(({ input }) => {
      const s = input.spec.spec;
      return input.conn!.load({ url: input.lease.url(input.device!.host), mode: s.mode, title: s.title ?? input.name });
    }),
    // Not cut short by an abort: a graceful stop ends in close() within the request timeouts anyway.
    stopCast: fromPromise<void, CastContext>(async ({ input }) => {
      await input.conn?.stop();
    }),
  },
  delays: {
    backoff: ({ context }) => backoffDelay(context),
    pollDevice: POLL_DEVICE_MS,
    parkAfter: ({ context }) => context.spec.spec.policy.parkAfter,
    // Wake when the silence would pass the limit, not on a fixed tick.
    proofOfLife: ({ context }) => {
      const silent = fetchSilenceMs(context);
      return silent === undefined ? STALL_AFTER_MS : Math.max(PROOF_OF_LIFE_MIN_MS, STALL_AFTER_MS + 1 - silent);
    },
  },
  guards: {
    streamServable: ({ context }) => context.lease.servable(),
    joined: ({ event }) => outputOf<{ joined: boolean }>(event).joined,
    deviceBusy: ({ event }) => otherAppOf(errorOf(event)) !== undefined,
    deviceFree: ({ context }) => !context.conn?.otherApp(),
    connectionLost: ({ event }) => event.type === 'DRIFT' && event.drift.type === 'CONNECTION_LOST',
    standbyOn: ({ event }) => event.type === 'DRIFT' && event.drift.type === 'STANDBY' && event.drift.standby,
    standbyOff: ({ event }) => event.type === 'DRIFT' && event.drift.type === 'STANDBY' && !event.drift.standby,
    otherSenderWait: ({ context, event }) =>
      event.type === 'DRIFT' && isOtherSender(event.drift) && context.spec.spec.policy.onOtherApp === 'wait',
    budgetSpent: ({ context }) => budgetSpent(context),
    idleTeardown: ({ context, event }) =>
      event.type === 'DRIFT' && isIdleKind(event.drift) && context.spec.spec.policy.onDeviceIdle === 'teardown',
    encoderTeardown: ({ context }) => context.spec.spec.policy.onEncoderExit === 'teardown',
    reloadRequested: ({ event }) => event.type === 'SPEC_UPDATED' && event.reload,
    fetchesStalled: ({ context }) => (fetchSilenceMs(context) ?? 0) > STALL_AFTER_MS,
    connectedInStandby: ({ context }) => {
      const r = context.conn?.receiver();
      return !!r && (r.isStandBy || !r.isActiveInput);
    },
    // While the TV sleeps, our media ending or stalling is its doing, not drift to repair.
    driftWhileAsleep: ({ event }) => event.type === 'DRIFT' && (isIdleKind(event.drift) || (event.drift.type === 'STANDBY' && event.drift.standby)),
  },
  actions: {
    recordDevice: assign({ device: ({ event }) => outputOf<ResolvedDevice>(event), lastError: undefined }),
    recordConnection: assign({ conn: ({ event }) => outputOf<CastConnection>(event), lastError: undefined }),
    dropConnection: assign({ conn: undefined }),
    recordError: assign(({ event }, { step }: { step: NonNullable<CastContext['lastErrorStep']> }) => ({
      lastError: errMessage(errorOf(event)),
      lastErrorStep: step,
    })),
    failAttempt: assign({ attempt: ({ context }) => context.attempt + 1 }),
    // The address may have changed: look the device up again next time.
    forgetDevice: ({ context }) => context.components.cast.forget(context.spec.spec.device),
    // Not recorded: the standby drift stays what status shows as the reason.
    recordDriftAsleep: ({ context, event }) => {
      if (event.type === 'DRIFT') context.log.debug({ drift: event.drift.type }, 'drift while the TV is in standby: waiting for it to wake');
    },
    recordDrift: assign({
      lastDrift: ({ context, event }) => (event.type === 'DRIFT' ? describeDrift(event.drift, context.now()) : undefined),
    }),
    recordEncoderExit: assign({
      lastDrift: ({ context, event }) =>
        event.type === 'ENCODER_EXITED' ? { reason: 'EncoderExited', message: event.info.message ?? event.info.reason, at: isoAt(context.now()) } : undefined,
    }),
    countRestart: assign({
      restarts: ({ context }) => [...context.restarts.filter((t) => t >= context.now() - context.spec.spec.policy.maxRestarts.window), context.now()],
      restartCount: ({ context }) => context.restartCount + 1,
      attempt: ({ context }) => context.attempt + 1,
    }),
    enterStandby: assign({ standby: true }),
    leaveStandby: assign({ standby: false }),
    updateSpec: assign({ spec: ({ context, event }) => (event.type === 'SPEC_UPDATED' ? event.spec : context.spec) }),
    changeStream: assign({ lease: ({ context, event }) => (event.type === 'STREAM_CHANGED' ? event.lease : context.lease) }),
    countLoad: assign({ loads: ({ context }) => context.loads + 1 }),
    markPlaying: assign({ playingSince: ({ context }) => context.now(), lastError: undefined, attempt: 0 }),
    clearPlayingSince: assign({ playingSince: undefined }),
    noteBusyApp: assign({ busyWith: ({ context }) => context.conn?.otherApp()?.appId }),
    clearBusyApp: assign({ busyWith: undefined }),
    raiseStalled: raise(({ context }) => ({
      type: 'DRIFT' as const,
      drift: { type: 'STALLED' as const, message: `the device says PLAYING but has fetched nothing for ${Math.round((fetchSilenceMs(context) ?? 0) / 1000)} s` },
    })),
    handOverConnection: sendTo('connection', { type: 'HAND_OVER' } satisfies HandOver),
    notifyPlaying: sendParent({ type: 'CAST_CHANGED', state: 'playing' } satisfies CastNotice),
    notifyEnded: sendParent({ type: 'CAST_CHANGED', state: 'ended' } satisfies CastNotice),
    // An away period starts once; a later reason (asleep, then unplugged) keeps its start and timer.
    beginAway: enqueueActions(({ context, enqueue }, { reason }: { reason: AwayReason }) => {
      const app = reason === 'OtherApp' ? (context.conn?.otherApp()?.displayName ?? context.busyWith) : undefined;
      if (context.away) {
        if (context.away.reason !== reason || context.away.app !== app) enqueue.assign({ away: { ...context.away, reason, app } });
        return;
      }
      enqueue.assign({ away: { reason, since: context.now(), app } });
      enqueue.raise({ type: 'PARK_DUE' }, { id: 'park', delay: 'parkAfter' });
    }),
    park: enqueueActions(({ context, enqueue }) => {
      if (!context.away || context.parkedAt !== undefined) return;
      const away = context.away;
      context.log.info({ reason: away.reason, awayForMs: context.now() - away.since }, `${describeAway(away)}: parking the stream until it is back`);
      enqueue.assign({ parkedAt: context.now() });
      enqueue.sendParent({ type: 'CAST_CHANGED', state: 'parked' } satisfies CastNotice);
    }),
    // The park timer fired while the device was not away (it answered, then a LOAD failed): the
    // away period is over; the next one starts afresh.
    forgetAway: assign({ away: undefined }),
    // The device answers again: resume at once (the stream restarts while the cast launches), and
    // measure any later absence afresh.
    deviceBack: enqueueActions(({ context, enqueue }) => {
      if (context.parkedAt === undefined) return;
      context.log.info({ parkedForMs: context.now() - context.parkedAt }, 'the device is back: resuming the stream');
      enqueue.assign({ parkedAt: undefined, away: undefined });
      enqueue.cancel('park');
      enqueue.sendParent({ type: 'CAST_CHANGED', state: 'resumed' } satisfies CastNotice);
    }),
    // Playing (or the TV woke): no longer away, whatever happened on the way.
    endAway: enqueueActions(({ context, enqueue }) => {
      if (!context.away && context.parkedAt === undefined) return;
      enqueue.assign({ away: undefined, parkedAt: undefined });
      enqueue.cancel('park');
    }),
    warnUnreachable: ({ context }) =>
      context.unreachable.failed(backoffDelay(context), { device: context.device ? `${context.device.host}:${context.device.port}` : undefined, err: context.lastError ?? context.lastDrift?.message }),
    reachable: ({ context }) => context.unreachable.recovered('device reachable again', { device: context.device && `${context.device.host}:${context.device.port}` }),
  },
}).createMachine({
  id: 'cast',
  context: ({ input }) => ({
    ...input,
    attempt: 0,
    restarts: [],
    restartCount: 0,
    standby: false,
    loads: 0,
    unreachable: new RepeatedWarning(input.log, 'device unreachable, retrying', input.now),
  }),
  initial: 'resolving',
  on: {
    STOP: '.stopping',
    SPEC_UPDATED: { actions: 'updateSpec' },
    STREAM_CHANGED: { actions: 'changeStream' },
    // Away states (and launching, until the launch shows the device is here) park; others forget.
    PARK_DUE: { actions: 'forgetAway' },
  },
  states: {
    resolving: {
      on: { PARK_DUE: { actions: 'park' } },
      invoke: {
        src: 'resolve',
        input: ({ context }) => context,
        onDone: { target: 'connecting', actions: 'recordDevice' },
        onError: { target: 'retrying', actions: [{ type: 'recordError', params: { step: 'resolve' } }, 'failAttempt'] },
      },
    },
    connecting: {
      on: { PARK_DUE: { actions: 'park' } },
      invoke: {
        src: 'connect',
        input: ({ context }) => context,
        onDone: { target: 'connected', actions: ['recordConnection', 'reachable'] },
        onError: { target: 'retrying', actions: [{ type: 'recordError', params: { step: 'connect' } }, 'failAttempt', 'forgetDevice'] },
      },
    },
    retrying: {
      entry: ['dropConnection', { type: 'beginAway', params: { reason: 'Unreachable' } }, 'warnUnreachable'],
      on: { PARK_DUE: { actions: 'park' } },
      after: { backoff: 'resolving' },
    },
    connected: {
      invoke: { id: 'connection', src: 'connection', input: ({ context }) => ({ conn: context.conn! }) },
      initial: 'answering',
      on: {
        STOP: '.handingOverToStop',
        DRIFT: [
          { guard: 'connectionLost', target: 'retrying', actions: ['recordDrift', 'failAttempt', 'forgetDevice'] },
          { guard: 'standbyOn', target: '.standby', actions: ['recordDrift', 'enterStandby'] },
          // The TV woke: back at once, whether parked yet or not (its absence is over).
          { guard: 'standbyOff', target: '.recovering', actions: ['recordDrift', 'leaveStandby', 'deviceBack', 'endAway'] },
          { guard: 'otherSenderWait', target: '.waitingDevice', actions: 'recordDrift' },
          { guard: 'idleTeardown', target: '.handingOverToTeardown', actions: 'recordDrift' },
          { guard: 'budgetSpent', target: 'failed', actions: 'recordDrift' },
          { target: '.recovering', actions: ['recordDrift', 'countRestart'] },
        ],
        ENCODER_EXITED: [
          { guard: 'encoderTeardown', target: '.handingOverToTeardown', actions: 'recordEncoderExit' },
          { guard: 'budgetSpent', target: 'failed', actions: 'recordEncoderExit' },
          { actions: ['recordEncoderExit', 'countRestart'] },
        ],
        STREAM_CHANGED: { target: '.awaitingStream', actions: 'changeStream' },
        SPEC_UPDATED: [{ guard: 'reloadRequested', target: '.awaitingStream', actions: 'updateSpec' }, { actions: 'updateSpec' }],
      },
      states: {
        // The receiver status is known once connected: a TV that is asleep is waited for, not launched on.
        answering: {
          always: [{ guard: 'connectedInStandby', target: 'standby', actions: 'enterStandby' }, { target: 'launching' }],
        },
        launching: {
          on: { PARK_DUE: { actions: 'park' } },
          invoke: {
            src: 'launch',
            input: ({ context }) => context,
            onDone: [
              { guard: 'joined', target: 'playing', actions: 'deviceBack' },
              { target: 'awaitingStream', actions: 'deviceBack' },
            ],
            onError: [
              { guard: 'deviceBusy', target: 'waitingDevice' },
              { target: 'recovering', actions: [{ type: 'recordError', params: { step: 'launch' } }, 'failAttempt'] },
            ],
          },
        },
        awaitingStream: {
          always: { guard: 'streamServable', target: 'loading' },
          on: { STREAM_SERVABLE: 'loading' },
        },
        loading: {
          entry: 'countLoad',
          invoke: {
            src: 'load',
            input: ({ context }) => context,
            onDone: { target: 'playing' },
            onError: { target: 'recovering', actions: [{ type: 'recordError', params: { step: 'load' } }, 'failAttempt'] },
          },
        },
        playing: {
          entry: ['markPlaying', 'endAway', 'notifyPlaying'],
          exit: 'clearPlayingSince',
          initial: 'checkingFetches',
          states: {
            // PLAYING but no playlist or segment fetched from the device's address for longer
            // than STALL_AFTER_MS: the device is stalled, whatever it says.
            checkingFetches: {
              after: {
                proofOfLife: [{ guard: 'fetchesStalled', actions: 'raiseStalled' }, { target: 'checkingFetches', reenter: true }],
              },
            },
          },
        },
        recovering: {
          after: { backoff: 'launching' },
        },
        waitingDevice: {
          entry: ['noteBusyApp', { type: 'beginAway', params: { reason: 'OtherApp' } }],
          exit: 'clearBusyApp',
          on: {
            PARK_DUE: { actions: 'park' },
            // Nothing to LOAD onto a device another app holds: the launch after it LOADs the new stream.
            STREAM_CHANGED: { actions: 'changeStream' },
            SPEC_UPDATED: { actions: 'updateSpec' },
          },
          after: {
            pollDevice: [{ guard: 'deviceFree', target: 'launching' }, { target: 'waitingDevice', reenter: true }],
          },
        },
        standby: {
          entry: { type: 'beginAway', params: { reason: 'Standby' } },
          on: {
            PARK_DUE: { actions: 'park' },
            DRIFT: { guard: 'driftWhileAsleep', actions: 'recordDriftAsleep' },
            // Nor onto a sleeping TV: waking re-launches and LOADs the new stream.
            STREAM_CHANGED: { actions: 'changeStream' },
            SPEC_UPDATED: { actions: 'updateSpec' },
          },
        },
        // A graceful stop still needs the socket once `connected` is left. These passing steps
        // tell the connection actor so first: XState delivers what is sent to an invoked actor
        // before it stops that actor.
        handingOverToStop: { entry: 'handOverConnection', always: '#cast.stopping' },
        handingOverToTeardown: { entry: 'handOverConnection', always: '#cast.tornDown' },
      },
    },
    failed: { entry: ['dropConnection', 'notifyEnded'] },
    tornDown: {
      invoke: { src: 'stopCast', input: ({ context }) => context, onDone: 'ended', onError: 'ended' },
    },
    ended: { entry: ['dropConnection', 'notifyEnded'] },
    stopping: {
      invoke: { src: 'stopCast', input: ({ context }) => context, onDone: 'stopped', onError: 'stopped' },
    },
    stopped: { type: 'final', entry: 'dropConnection' },
  },
});
