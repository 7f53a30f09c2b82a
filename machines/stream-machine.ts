// The stream machine: display → browser → encoder → servable, one per distinct render input.
// Each component is a fromCallback actor: it starts the process, reports READY / EXITED, and its
// cleanup appends the async stop to the stream's Teardown, so leaving a state stops what it
// started, innermost first. An encoder exit restarts only the encoder (the playlist continues);
// a browser exit only the browser; a display exit the whole stream. PARK stops every component
// (the directory and its playlist stay); RESUME starts them again once that stop has finished,
// and the new encoder continues the playlist, so the stream is servable after one new segment.
import { assign, emit, enqueueActions, fromCallback, fromPromise, setup, type EventObject } from 'xstate';
import type {
  BrowserHandle,
  ComponentReport,
  Components,
  DisplayHandle,
  EncoderHandle,
  ExitInfo,
  Running,
  StartContext,
  StreamInput,
} from './components.js';
import { Teardown } from './teardown.js';
import type { Logger } from './log.js';

export interface StreamMachineInput {
  id: string;
  input: StreamInput;
  dir: string;
  components: Components;
  log: Logger;
  /** The clock: report and exit times come from it, so a simulated clock moves them. */
  now: () => number;
  backoff?: { initialMs: number; maxMs: number };
}

export type StreamEvent =
  | { type: 'DISPLAY_READY'; handle: DisplayHandle }
  | { type: 'DISPLAY_EXITED'; info: ExitInfo }
  /** `input`: what the browser was started with (the stream's may have changed since). */
  | { type: 'BROWSER_READY'; handle: BrowserHandle; input: StreamInput }
  | { type: 'BROWSER_EXITED'; info: ExitInfo }
  | { type: 'ENCODER_STARTED'; handle: EncoderHandle }
  | { type: 'ENCODER_SERVABLE' }
  | { type: 'ENCODER_EXITED'; info: ExitInfo }
  | { type: 'REPORT'; report: ComponentReport }
  /** Every holder's device is away: stop the components, keep the directory. */
  | { type: 'PARK' }
  | { type: 'RESUME' }
  /** Asked for: stop every component, then start them again (the directory and playlist stay). */
  | { type: 'RESTART' }
  /** The same stream with another rotation (order, durations, windows, pages): taken live. */
  | { type: 'UPDATE_PAGES'; input: StreamInput }
  | { type: 'STOP' };

type ComponentName = 'display' | 'browser' | 'encoder';

export type StreamEmitted =
  | { type: 'changed' }
  | { type: 'componentExited'; component: ComponentName; info: ExitInfo };

interface StreamContext extends StreamMachineInput {
  teardown: Teardown;
  display?: string;
  browserReady: boolean;
  /** The browser on screen, while it runs. */
  browser?: BrowserHandle;
  encoderServable: boolean;
  encoder?: EncoderHandle;
  attempts: { display: number; browser: number; encoder: number };
  restarts: number;
  /** When the stream was parked, ISO; undefined while it runs. */
  parkedAt?: string;
  lastExit?: { component: ComponentName; info: ExitInfo; at: string };
  reports: Record<string, ComponentReport & { at: string }>;
}

type ComponentInput = { ctx: StreamContext };

/** What else a component's exit takes down: everything runs on the display. */
const LOST_WITH: Record<ComponentName, Partial<StreamContext>> = {
  display: { display: undefined, browserReady: false, browser: undefined, encoderServable: false, encoder: undefined },
  browser: { browserReady: false, browser: undefined },
  encoder: { encoderServable: false },
};

const isoAt = (ms: number) => new Date(ms).toISOString();

/** Wraps a driver's start() as a long-lived callback actor. */
function component<H extends Running>(
  name: ComponentName,
  start: (ctx: StreamContext, sc: StartContext) => Promise<H>,
  onStarted: (h: H, sendBack: (e: EventObject) => void, ctx: StreamContext) => EventObject,
  exitedType: string,
) {
  return fromCallback<EventObject, ComponentInput>(({ input, sendBack }) => {
    const ctx = input.ctx;
    const ac = new AbortController();
    let stopping = false;
    const log = ctx.log; // the drivers bind their own component name
    const started = start(ctx, {
      signal: ac.signal,
      log,
      report: (report) => {
        if (!stopping) sendBack({ type: 'REPORT', report });
      },
    });
    started.then(
      (h) => {
        if (stopping) return;
        sendBack(onStarted(h, sendBack, ctx));
        void h.exited.then((info) => {
          if (!stopping) sendBack({ type: exitedType, info });
        });
      },
      (err: unknown) => {
        if (stopping) return;
        const message = err instanceof Error ? err.message : String(err);
        log.warn({ err: message }, `${name} failed to start`);
        sendBack({ type: exitedType, info: { reason: 'start-failed', message } });
      },
    );
    return () => {
      stopping = true;
      ac.abort();
      ctx.teardown.add(() => started.then((h) => h.stop(), () => undefined));
    };
  });
}

/** A component that ran fine and then died is restarted at once (the device is stalling);
 *  repeated failures back off exponentially. */
export const backoffMs = (ctx: Pick<StreamContext, 'backoff' | 'attempts'>, which: keyof StreamContext['attempts']) => {
  const b = ctx.backoff ?? { initialMs: 1000, maxMs: 30_000 };
  const n = ctx.attempts[which];
  return n <= 1 ? 0 : Math.min(b.maxMs, b.initialMs * 2 ** (n - 2));
};

export const streamMachine = setup({
  types: {
    context: {} as StreamContext,
    events: {} as StreamEvent,
    input: {} as StreamMachineInput,
    emitted: {} as StreamEmitted,
  },
  actors: {
    display: component<DisplayHandle>(
      'display',
      (ctx, sc) => ctx.components.display.start({ width: ctx.input.quality.width, height: ctx.input.quality.height }, sc),
      (handle) => ({ type: 'DISPLAY_READY', handle }),
      'DISPLAY_EXITED',
    ),
    browser: component<BrowserHandle>(
      'browser',
      (ctx, sc) => ctx.components.browser.start({ display: ctx.display!, input: ctx.input }, sc),
      (handle, _, ctx) => ({ type: 'BROWSER_READY', handle, input: ctx.input }),
      'BROWSER_EXITED',
    ),
    // The encoder reports twice: started (figures available) and servable (three segments).
    encoder: component<EncoderHandle>(
      'encoder',
      (ctx, sc) => ctx.components.encoder.start({ display: ctx.display!, input: ctx.input, dir: ctx.dir }, sc),
      (handle, sendBack) => {
        void handle.servable().then(
          () => sendBack({ type: 'ENCODER_SERVABLE' }),
          () => undefined,
        );
        return { type: 'ENCODER_STARTED', handle };
      },
      'ENCODER_EXITED',
    ),
    awaitTeardown: fromPromise<void, { teardown: Teardown }>(({ input }) => input.teardown.done()),
  },
  delays: {
    displayBackoff: ({ context }) => backoffMs(context, 'display'),
    browserBackoff: ({ context }) => backoffMs(context, 'browser'),
    encoderBackoff: ({ context }) => backoffMs(context, 'encoder'),
  },
  actions: {
    changed: emit({ type: 'changed' } as const),
    // One handler for DISPLAY_EXITED, BROWSER_EXITED and ENCODER_EXITED.
    componentExited: enqueueActions(({ context, event, enqueue }, { component }: { component: ComponentName }) => {
      const { info } = event as Extract<StreamEvent, { info: ExitInfo }>;
      enqueue.assign({
        ...LOST_WITH[component],
        attempts: { ...context.attempts, [component]: context.attempts[component] + 1 },
        restarts: context.restarts + 1,
        lastExit: { component, info, at: isoAt(context.now()) },
      });
      enqueue.emit({ type: 'componentExited', component, info });
      enqueue.emit({ type: 'changed' });
    }),
  },
}).createMachine({
  id: 'stream',
  context: ({ input }) => ({
    ...input,
    teardown: new Teardown(),
    browserReady: false,
    encoderServable: false,
    attempts: { display: 0, browser: 0, encoder: 0 },
    restarts: 0,
    reports: {},
  }),
  initial: 'running',
  on: {
    STOP: '.stopping',
    // A browser starting later starts with the new input; the one running takes it live.
    UPDATE_PAGES: {
      actions: [assign({ input: ({ event }) => event.input }), ({ context, event }) => void context.browser?.updatePages?.(event.input)],
    },
    REPORT: {
      actions: [
        assign({
          reports: ({ context, event }) => ({ ...context.reports, [event.report.type]: { ...event.report, at: isoAt(context.now()) } }),
        }),
        'changed',
      ],
    },
  },
  states: {
    running: {
      invoke: { src: 'display', input: ({ context }) => ({ ctx: context }) },
      on: {
        DISPLAY_EXITED: { target: 'displayRestarting', actions: { type: 'componentExited', params: { component: 'display' } } },
        PARK: 'parked',
        RESTART: 'restarting',
      },
      initial: 'startingDisplay',
      states: {
        startingDisplay: {
          on: {
            DISPLAY_READY: {
              target: 'up',
              actions: [assign({ display: ({ event }) => event.handle.display }), 'changed'],
            },
          },
        },
        up: {
          type: 'parallel',
          states: {
            browser: {
              initial: 'run',
              states: {
                run: {
                  invoke: { src: 'browser', input: ({ context }) => ({ ctx: context }) },
                  initial: 'starting',
                  states: {
                    starting: {
                      on: {
                        BROWSER_READY: {
                          target: 'ready',
                          actions: [
                            assign({ browserReady: true, browser: ({ event }) => event.handle }),
                            // Pages that changed while it started are taken now.
                            ({ context, event }) => void (event.input !== context.input && event.handle.updatePages?.(context.input)),
                            // A rotation's turns end where the segments of whichever encoder runs then end.
                            ({ event, self }) => event.handle.alignSwitches?.((after) => self.getSnapshot().context.encoder?.nextSegmentEnd?.(after)),
                            'changed',
                          ],
                        },
                      },
                    },
                    ready: {
                      entry: assign({ attempts: ({ context }) => ({ ...context.attempts, browser: 0 }) }),
                    },
                  },
                  on: {
                    BROWSER_EXITED: { target: 'restarting', actions: { type: 'componentExited', params: { component: 'browser' } } },
                  },
                },
                restarting: { after: { browserBackoff: 'run' } },
              },
            },
            encoder: {
              // Nothing before the page is painted belongs in the playlist: the encoder starts once
              // the browser has its first page on screen. Later browser restarts leave it running:
              // the display's backdrop holds the last picture until the new browser's page is up.
              initial: 'awaitingPage',
              states: {
                awaitingPage: {
                  on: { BROWSER_READY: 'run' },
                },
                run: {
                  invoke: { src: 'encoder', input: ({ context }) => ({ ctx: context }) },
                  initial: 'starting',
                  states: {
                    starting: {
                      on: {
                        ENCODER_STARTED: {
                          target: 'encoding',
                          actions: [assign({ encoder: ({ event }) => event.handle }), 'changed'],
                        },
                      },
                    },
                    encoding: {
                      on: {
                        ENCODER_SERVABLE: {
                          target: 'servable',
                          actions: [assign({ encoderServable: true }), 'changed'],
                        },
                      },
                    },
                    servable: {
                      entry: assign({ attempts: ({ context }) => ({ ...context.attempts, encoder: 0, display: 0 }) }),
                    },
                  },
                  on: {
                    ENCODER_EXITED: { target: 'restarting', actions: { type: 'componentExited', params: { component: 'encoder' } } },
                  },
                },
                restarting: { after: { encoderBackoff: 'run' } },
              },
            },
          },
        },
      },
    },
    displayRestarting: {
      after: { displayBackoff: 'running' },
      on: { PARK: 'parked', RESTART: 'restarting' },
    },
    // Leaving `running` queued every component's stop; they start again once those are done.
    restarting: {
      entry: [assign({ ...LOST_WITH.display, attempts: { display: 0, browser: 0, encoder: 0 } }), 'changed'],
      invoke: { src: 'awaitTeardown', input: ({ context }) => ({ teardown: context.teardown }), onDone: 'running', onError: 'running' },
      on: { PARK: 'parked' },
    },
    // Leaving `running` stopped every component (their cleanups queued the stops); a resume
    // waits for those stops, so two displays or encoders of one stream never overlap.
    parked: {
      entry: [
        assign(({ context }) => ({
          ...LOST_WITH.display,
          attempts: { display: 0, browser: 0, encoder: 0 },
          parkedAt: isoAt(context.now()),
        })),
        'changed',
      ],
      exit: assign({ parkedAt: undefined }),
      initial: 'draining',
      states: {
        draining: {
          invoke: { src: 'awaitTeardown', input: ({ context }) => ({ teardown: context.teardown }), onDone: 'idle', onError: 'idle' },
          on: { RESUME: 'resuming' },
        },
        resuming: {
          invoke: { src: 'awaitTeardown', input: ({ context }) => ({ teardown: context.teardown }), onDone: '#stream.running', onError: '#stream.running' },
          on: { PARK: 'draining' },
        },
        idle: {
          on: { RESUME: '#stream.running' },
        },
      },
    },
    stopping: {
      entry: assign({ browserReady: false, encoderServable: false }),
      invoke: {
        src: 'awaitTeardown',
        input: ({ context }) => ({ teardown: context.teardown }),
        onDone: 'stopped',
        onError: 'stopped',
      },
    },
    stopped: { type: 'final', entry: 'changed' },
  },
});

export type StreamActorLogic = typeof streamMachine;
