// The cast machine: resolve → connect → launch → (stream servable) → load → playing, then watch
// the device. Drift goes through the spec's policy, cheapest fix first: a device that went IDLE
// gets a new LOAD on the same connection; a lost connection is re-dialled and re-joined without a
// LOAD when our session still plays; another app is waited out (onOtherApp: wait) or replaced.
// Retries are visible states with `after` delays; the restart budget is counted over a window.
import { assign, fromCallback, fromPromise, setup, type AnyActorRef } from 'xstate';
import type { CastSpec } from '../specs/schema.js';
import type { CastConnection, CastDrift, Components, ExitInfo, ResolvedDevice } from './components.js';
import type { Logger } from './log.js';
import { PagecastError } from './errors.js';

/** What the spec actor hands the cast: the stream it holds. */
export interface StreamLease {
  readonly streamId: string;
  servable(): boolean;
  url(deviceHost: string): string;
}

export interface CastMachineInput {
  name: string;
  spec: CastSpec;
  lease: StreamLease;
  components: Components;
  log: Logger;
  now: () => number;
}

export type CastEvent =
  | { type: 'DRIFT'; drift: CastDrift }
  | { type: 'STREAM_SERVABLE' }
  | { type: 'STREAM_CHANGED'; lease: StreamLease }
  | { type: 'ENCODER_EXITED'; info: ExitInfo }
  | { type: 'SPEC_UPDATED'; spec: CastSpec; reload: boolean }
  | { type: 'STOP' };

export interface DriftRecord {
  reason: string;
  message?: string;
  at: string;
}

interface CastContext extends CastMachineInput {
  device?: ResolvedDevice;
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
}

const CC_OTHER_APP = 'OTHER_APP_RUNNING';
/** Three 2 s target durations, and a second of slack for the device's refresh timing. */
const STALL_AFTER_MS = 7000;

function describeDrift(d: CastDrift): DriftRecord {
  const at = new Date().toISOString();
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

function backoffDelay(ctx: CastContext): number {
  const { initial, max } = ctx.spec.spec.policy.backoff;
  return Math.min(max, initial * 2 ** Math.max(0, ctx.attempt - 1));
}

function budgetSpent(ctx: CastContext): boolean {
  const { count, window } = ctx.spec.spec.policy.maxRestarts;
  const since = ctx.now() - window;
  return ctx.restarts.filter((t) => t >= since).length >= count;
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
    resolve: fromPromise<ResolvedDevice, CastContext>(({ input, signal }) =>
      input.components.cast.resolve(input.spec.spec.device, { signal, log: input.log, report: () => undefined }),
    ),
    connect: fromPromise<CastConnection, CastContext>(({ input, signal }) =>
      input.components.cast.connect(input.device!, { signal, log: input.log, report: () => undefined }),
    ),
    launch: fromPromise<{ joined: boolean }, CastContext>(async ({ input }) => {
      const conn = input.conn!;
      const takeover = input.spec.spec.policy.onOtherApp === 'takeover';
      const r = conn.receiver();
      if (!takeover && isForeignApp(r.appId) && r.sessionId && !r.isIdleScreen) {
        throw new PagecastError('CAST_REQUEST_FAILED', `${CC_OTHER_APP}:${r.appId}`);
      }
      const expectUrl = input.lease.servable() ? input.lease.url(input.device!.host) : undefined;
      return conn.launch({ takeover, expectUrl });
    }),
    load: fromPromise<void, CastContext>(async ({ input }) => {
      const s = input.spec.spec;
      await input.conn!.load({ url: input.lease.url(input.device!.host), mode: s.mode, title: s.title ?? input.name });
    }),
    stopCast: fromPromise<void, CastContext>(async ({ input }) => {
      await input.conn?.stop();
    }),
    // Proof of life from the server side: a device that says PLAYING but has fetched neither
    // playlist nor segment for three target durations is stalled.
    proofOfLife: fromCallback<CastEvent, CastContext>(({ input, sendBack }) => {
      const host = input.device!.host;
      const since = input.now();
      const timer = setInterval(() => {
        const stats = input.components.streams.fetches(input.lease.streamId).find((f) => f.client === host || f.client === `::ffff:${host}`);
        if (!stats) return;
        const last = Math.max(since, Date.parse(stats.lastPlaylistAt ?? '') || 0, Date.parse(stats.lastSegmentAt ?? '') || 0);
        const silent = input.now() - last;
        if (silent > STALL_AFTER_MS) {
          sendBack({ type: 'DRIFT', drift: { type: 'STALLED', message: `the device says PLAYING but has fetched nothing for ${Math.round(silent / 1000)} s` } });
        }
      }, 1000);
      return () => clearInterval(timer);
    }),
    watch: fromCallback<CastEvent, CastContext>(({ input, sendBack }) => {
      const off = input.conn!.onDrift((drift) => sendBack({ type: 'DRIFT', drift }));
      return off;
    }),
  },
  delays: {
    backoff: ({ context }) => backoffDelay(context),
    pollDevice: 5000,
  },
  guards: {
    streamServable: ({ context }) => context.lease.servable(),
    joined: ({ event }) => (event as unknown as { output: { joined: boolean } }).output.joined,
    // Our own pre-check, or the sender's launch() refusing to take the device from another app.
    otherAppError: ({ event }) => {
      const err = (event as unknown as { error: unknown }).error as { otherApp?: unknown } | undefined;
      return errMessage(err).startsWith(CC_OTHER_APP) || (typeof err === 'object' && err !== null && err.otherApp !== undefined);
    },
    deviceFree: ({ context }) => {
      const r = context.conn?.receiver();
      return !r || !isForeignApp(r.appId) || r.isIdleScreen;
    },
    connectionLost: ({ event }) => event.type === 'DRIFT' && event.drift.type === 'CONNECTION_LOST',
    standbyOn: ({ event }) => event.type === 'DRIFT' && event.drift.type === 'STANDBY' && event.drift.standby,
    standbyOff: ({ event }) => event.type === 'DRIFT' && event.drift.type === 'STANDBY' && !event.drift.standby,
    otherSenderWait: ({ context, event }) =>
      event.type === 'DRIFT' && isOtherSender(event.drift) && context.spec.spec.policy.onOtherApp === 'wait',
    budgetSpent: ({ context }) => budgetSpent(context),
    idleTeardown: ({ context, event }) =>
      event.type === 'DRIFT' && isIdleKind(event.drift) && context.spec.spec.policy.onDeviceIdle === 'teardown',
    encoderTeardown: ({ context }) => context.spec.spec.policy.onEncoderExit === 'teardown',
  },
  actions: {
    recordDrift: assign({
      lastDrift: ({ event }) => (event.type === 'DRIFT' ? describeDrift(event.drift) : undefined),
    }),
    recordEncoderExit: assign({
      lastDrift: ({ event }) =>
        event.type === 'ENCODER_EXITED' ? { reason: 'EncoderExited', message: event.info.message ?? event.info.reason, at: new Date().toISOString() } : undefined,
    }),
    countRestart: assign({
      restarts: ({ context }) => [...context.restarts.filter((t) => t >= context.now() - context.spec.spec.policy.maxRestarts.window), context.now()],
      restartCount: ({ context }) => context.restartCount + 1,
      attempt: ({ context }) => context.attempt + 1,
    }),
    failAttempt: assign({ attempt: ({ context }) => context.attempt + 1 }),
    closeConnection: ({ context }) => context.conn?.close(),
    // The spec actor is the parent; a cast machine run on its own (tests) has none.
    notifyPlaying: ({ self }) => parentOf(self)?.send({ type: 'CAST_CHANGED', state: 'playing' }),
    notifyEnded: ({ self }) => parentOf(self)?.send({ type: 'CAST_CHANGED', state: 'ended' }),
  },
}).createMachine({
  id: 'cast',
  context: ({ input }) => ({ ...input, attempt: 0, restarts: [], restartCount: 0, standby: false, loads: 0 }),
  initial: 'resolving',
  on: {
    STOP: '.stopping',
    SPEC_UPDATED: { actions: assign({ spec: ({ event }) => event.spec }) },
    STREAM_CHANGED: { actions: assign({ lease: ({ event }) => event.lease }) },
  },
  states: {
    resolving: {
      invoke: {
        src: 'resolve',
        input: ({ context }) => context,
        onDone: { target: 'connecting', actions: assign({ device: ({ event }) => event.output, lastError: undefined }) },
        onError: {
          target: 'retrying',
          actions: [assign({ lastError: ({ event }) => errMessage(event.error), lastErrorStep: 'resolve' }), 'failAttempt'],
        },
      },
    },
    connecting: {
      invoke: {
        src: 'connect',
        input: ({ context }) => context,
        onDone: { target: 'connected', actions: assign({ conn: ({ event }) => event.output, lastError: undefined }) },
        onError: {
          target: 'retrying',
          actions: [
            assign({ lastError: ({ event }) => errMessage(event.error), lastErrorStep: 'connect' }),
            'failAttempt',
            // The address may have changed: look the device up again next time.
            ({ context }) => context.components.cast.forget(context.spec.spec.device),
          ],
        },
      },
    },
    retrying: {
      entry: assign({ conn: undefined }),
      after: { backoff: 'resolving' },
    },
    connected: {
      invoke: { src: 'watch', input: ({ context }) => context },
      initial: 'launching',
      on: {
        DRIFT: [
          {
            guard: 'connectionLost',
            target: 'retrying',
            actions: ['recordDrift', 'failAttempt', 'closeConnection', ({ context }) => context.components.cast.forget(context.spec.spec.device)],
          },
          { guard: 'standbyOn', target: '.standby', actions: ['recordDrift', assign({ standby: true })] },
          { guard: 'standbyOff', target: '.recovering', actions: ['recordDrift', assign({ standby: false })] },
          { guard: 'otherSenderWait', target: '.waitingDevice', actions: 'recordDrift' },
          { guard: 'idleTeardown', target: 'tornDown', actions: 'recordDrift' },
          { guard: 'budgetSpent', target: 'failed', actions: 'recordDrift' },
          { target: '.recovering', actions: ['recordDrift', 'countRestart'] },
        ],
        ENCODER_EXITED: [
          { guard: 'encoderTeardown', target: 'tornDown', actions: 'recordEncoderExit' },
          { guard: 'budgetSpent', target: 'failed', actions: 'recordEncoderExit' },
          { actions: ['recordEncoderExit', 'countRestart'] },
        ],
        STREAM_CHANGED: { target: '.awaitingStream', actions: assign({ lease: ({ event }) => event.lease }) },
        SPEC_UPDATED: [
          { guard: ({ event }) => event.reload, target: '.awaitingStream', actions: assign({ spec: ({ event }) => event.spec }) },
          { actions: assign({ spec: ({ event }) => event.spec }) },
        ],
      },
      states: {
        launching: {
          invoke: {
            src: 'launch',
            input: ({ context }) => context,
            onDone: [
              { guard: 'joined', target: 'playing' },
              { target: 'awaitingStream' },
            ],
            onError: [
              { guard: 'otherAppError', target: 'waitingDevice' },
              {
                target: 'recovering',
                actions: [assign({ lastError: ({ event }) => errMessage(event.error), lastErrorStep: 'launch' }), 'failAttempt'],
              },
            ],
          },
        },
        awaitingStream: {
          always: { guard: 'streamServable', target: 'loading' },
          on: { STREAM_SERVABLE: 'loading' },
        },
        loading: {
          entry: assign({ loads: ({ context }) => context.loads + 1 }),
          invoke: {
            src: 'load',
            input: ({ context }) => context,
            onDone: { target: 'playing' },
            onError: {
              target: 'recovering',
              actions: [assign({ lastError: ({ event }) => errMessage(event.error), lastErrorStep: 'load' }), 'failAttempt'],
            },
          },
        },
        playing: {
          invoke: { src: 'proofOfLife', input: ({ context }) => context },
          entry: [assign({ playingSince: ({ context }) => context.now(), lastError: undefined, attempt: 0 }), 'notifyPlaying'],
          exit: assign({ playingSince: undefined }),
        },
        recovering: {
          after: { backoff: 'launching' },
        },
        waitingDevice: {
          entry: assign({ busyWith: ({ context }) => context.conn?.receiver().appId }),
          exit: assign({ busyWith: undefined }),
          after: {
            pollDevice: [{ guard: 'deviceFree', target: 'launching' }, { target: 'waitingDevice', reenter: true }],
          },
        },
        standby: {},
      },
    },
    failed: { entry: ['closeConnection', assign({ conn: undefined }), 'notifyEnded'] },
    tornDown: {
      invoke: { src: 'stopCast', input: ({ context }) => context, onDone: 'ended', onError: 'ended' },
    },
    ended: { entry: [assign({ conn: undefined }), 'notifyEnded'] },
    stopping: {
      invoke: { src: 'stopCast', input: ({ context }) => context, onDone: 'stopped', onError: 'stopped' },
    },
    stopped: { type: 'final', entry: assign({ conn: undefined }) },
  },
});

function parentOf(self: AnyActorRef): AnyActorRef | undefined {
  return (self as AnyActorRef & { _parent?: AnyActorRef })._parent;
}

const DMR = 'CC1AD845';
const BACKDROP = 'E8C28D3C';
function isForeignApp(appId: string | undefined): boolean {
  return appId !== undefined && appId !== DMR && appId !== BACKDROP;
}
