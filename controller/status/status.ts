// Status is recomputed from what the actors hold on every read, never patched incrementally.
import type { SnapshotFrom } from 'xstate';
import { describeAway, type castMachine } from '../../machines/cast-machine.js';
import type { specMachine } from '../../machines/spec-machine.js';
import type { streamMachine } from '../../machines/stream-machine.js';
import type { RotationState, StreamFetchStats } from '../../machines/components.js';
import type { Condition, PageStatus, ParkedStatus, Phase, SpecSource, SpecStatus, StreamStatus } from './types.js';
import { describeDevice } from '../../specs/identity.js';
import { redactText, redactUrl } from './redact.js';
import type { CastSpec } from '../../specs/schema.js';

type SpecSnap = SnapshotFrom<typeof specMachine>;
type CastSnap = SnapshotFrom<typeof castMachine>;
type StreamSnap = SnapshotFrom<typeof streamMachine>;

export interface StatusInputs {
  name: string;
  spec: CastSpec;
  source: SpecSource;
  generation: string;
  spec$?: SpecSnap;
  cast$?: CastSnap;
  stream$?: StreamSnap;
  streamHolders?: string[];
  fetches?: StreamFetchStats[];
  /** The rotation of the stream the spec holds (a spec with pages, while its browser runs). */
  rotation?: RotationState;
  error?: string;
  conflictMessage?: string;
  suspended: boolean;
}

/** Remembers when each condition last changed, so lastTransitionTime survives recomputation. */
export class TransitionClock {
  private readonly seen = new Map<string, { status: string; reason: string; at: string }>();
  stamp(name: string, c: Omit<Condition, 'lastTransitionTime'>, now: string): Condition {
    const key = `${name}/${c.type}`;
    const prev = this.seen.get(key);
    if (prev && prev.status === c.status && prev.reason === c.reason) return { ...c, lastTransitionTime: prev.at };
    this.seen.set(key, { status: c.status, reason: c.reason, at: now });
    return { ...c, lastTransitionTime: now };
  }
  forget(name: string): void {
    for (const k of this.seen.keys()) if (k.startsWith(`${name}/`)) this.seen.delete(k);
  }
}

const cond = (type: string, ok: boolean | undefined, reason: string, message = ''): Omit<Condition, 'lastTransitionTime'> => ({
  type,
  status: ok === undefined ? 'Unknown' : ok ? 'True' : 'False',
  reason,
  message,
});

export function phaseOf(spec$: SpecSnap | undefined, cast$: CastSnap | undefined): Phase {
  if (!spec$) return 'Pending';
  if (spec$.status === 'done') return 'Stopped';
  const v = spec$.value;
  if (v === 'scheduled') return 'Scheduled';
  if (v === 'suspended') return 'Suspended';
  if (v === 'preempted') return 'Preempted';
  if (typeof v === 'object' && 'active' in v) {
    if (!cast$) return 'Starting';
    if (cast$.matches('failed')) return 'Failed';
    if (cast$.matches('ended') || cast$.matches('tornDown') || cast$.matches('stopping') || cast$.matches('stopped')) return 'Stopped';
    if (cast$.matches({ connected: 'playing' })) return 'Playing';
    if (cast$.context.parkedAt !== undefined) return 'Parked';
    if (cast$.matches({ connected: 'waitingDevice' }) || cast$.matches({ connected: 'standby' })) return 'Waiting';
    if (cast$.matches('retrying') || cast$.matches({ connected: 'recovering' })) return 'Recovering';
    return cast$.context.restartCount > 0 || cast$.context.lastDrift ? 'Recovering' : 'Starting';
  }
  return 'Pending';
}

export function buildStatus(i: StatusInputs, clock: TransitionClock, now = new Date()): SpecStatus {
  const at = now.toISOString();
  const phase = phaseOf(i.spec$, i.cast$);
  const c = i.cast$?.context;
  const s = i.stream$?.context;
  const conditions: Omit<Condition, 'lastTransitionTime'>[] = [];
  const parked = parkedOf(phase, i.cast$, i.stream$);

  conditions.push(i.error ? cond('Valid', false, 'InvalidSpec', i.error) : cond('Valid', true, 'Valid'));
  const assignment = i.spec$?.context.assignment;
  if (assignment?.role === 'conflict') {
    conditions.push(cond('DeviceConflict', true, 'EqualPriority', `${assignment.by} has the device at the same priority`));
  } else if (assignment?.role === 'preempted') {
    conditions.push(cond('DeviceConflict', false, 'Preempted', `preempted by ${assignment.by} (higher priority)`));
  }

  if (s?.parkedAt !== undefined) {
    // Stopped on purpose: say so rather than "Starting".
    const why = `stream parked since ${s.parkedAt}: every device casting it is away`;
    for (const type of ['DisplayReady', 'BrowserReady', 'EncoderRunning', 'StreamServable']) conditions.push(cond(type, false, 'Parked', why));
  } else if (s) {
    const exit = s.lastExit;
    const exitMsg = exit ? redactText(`${exit.component} ${exit.info.reason}${exit.info.message ? `: ${exit.info.message}` : ''}`) : '';
    conditions.push(cond('DisplayReady', !!s.display, s.display ? 'Running' : exit?.component === 'display' ? 'Exited' : 'Starting', s.display ? `display ${s.display}` : exitMsg));
    const br = s.reports.BrowserReady;
    conditions.push(
      cond('BrowserReady', s.browserReady, s.browserReady ? 'PageShown' : (br?.reason ?? 'Starting'), redactText(br?.message ?? (exit?.component === 'browser' ? exitMsg : ''))),
    );
    conditions.push(cond('EncoderRunning', !!s.encoder && !(exit?.component === 'encoder' && !s.encoderServable), s.encoder ? 'Encoding' : 'Starting', s.encoder ? `${s.encoder.encoder}` : ''));
    conditions.push(cond('StreamServable', s.browserReady && s.encoderServable, s.browserReady && s.encoderServable ? 'SegmentsReady' : 'Waiting'));
    const hw = s.reports.HardwareAcceleration;
    if (hw) conditions.push(cond('HardwareAcceleration', hw.status === 'True', hw.reason, hw.message ?? ''));
    else if (s.encoder?.fallbackReason) conditions.push(cond('HardwareAcceleration', false, 'SoftwareFallback', s.encoder.fallbackReason));
    // The encoder stepped down (faster preset, lower frame rate) to keep up with real time.
    const degraded = s.reports.EncoderDegraded;
    if (degraded) conditions.push(cond('EncoderDegraded', degraded.status === 'True', degraded.reason, degraded.message ?? ''));
  }

  const page = i.spec.spec.pages && i.rotation ? pageStatusOf(i.rotation) : undefined;
  if (page) conditions.push(pagesReady(page));

  if (c) {
    const found = c.device ? true : c.lastErrorStep === 'resolve' ? false : undefined;
    conditions.push(cond('DeviceFound', found, found ? 'Resolved' : found === false ? 'NotFound' : 'Resolving', found ? `${c.device!.host}:${c.device!.port}` : found === false ? redactText(c.lastError ?? '') : ''));
    const connected = !!c.conn;
    conditions.push(cond('DeviceConnected', connected, connected ? 'Connected' : c.lastErrorStep === 'connect' ? 'ConnectFailed' : 'NotConnected', connected ? '' : redactText(c.lastError ?? '')));
    const playing = i.cast$!.matches({ connected: 'playing' });
    const media = c.conn?.media();
    conditions.push(
      cond(
        'MediaPlaying',
        playing,
        playing ? 'Playing' : parked ? 'Parked' : i.cast$!.matches({ connected: 'waitingDevice' }) ? 'DeviceBusy' : c.lastDrift?.reason ?? 'NotPlaying',
        playing ? `device reports ${media?.playerState ?? 'PLAYING'}` : parked ? parked.message : i.cast$!.matches({ connected: 'waitingDevice' }) ? `waiting: the device is showing ${c.busyWith ?? 'another app'}` : redactText(c.lastDrift?.message ?? c.lastError ?? ''),
      ),
    );
  }

  if (parked) conditions.push(cond('Parked', true, parked.reason, parked.message));

  let stream: StreamStatus | undefined;
  if (s) {
    const enc = s.encoder;
    stream = {
      id: s.id,
      sharedWith: (i.streamHolders ?? []).filter((n) => n !== i.name),
      encoder: enc?.encoder,
      fallbackReason: enc?.fallbackReason,
      figures: enc?.figures(),
      fetches: i.fetches ?? [],
    };
  }
  let deviceLastFetch: SpecStatus['deviceLastFetch'];
  if (c?.device && i.fetches) {
    const f = i.fetches.find((x) => x.client === c.device!.host || x.client === `::ffff:${c.device!.host}`);
    if (f) deviceLastFetch = { playlist: f.lastPlaylistAt, segment: f.lastSegmentAt };
  }

  return {
    name: i.name,
    source: i.source,
    device: describeDevice(i.spec.spec.device),
    url: i.spec.spec.pages ? `[${i.spec.spec.pages.length} pages]` : i.spec.spec.url ? redactUrl(i.spec.spec.url) : '[from urlFrom]',
    priority: i.spec.spec.priority,
    phase,
    conditions: conditions.map((x) => clock.stamp(i.name, x, at)),
    restarts: (c?.restartCount ?? 0) + (s?.restarts ?? 0),
    lastDrift: c?.lastDrift
      ? { ...c.lastDrift, message: c.lastDrift.message === undefined ? undefined : redactText(c.lastDrift.message) }
      : s?.lastExit
        ? { reason: `${cap(s.lastExit.component)}Exited`, message: redactText(s.lastExit.info.message ?? s.lastExit.info.reason), at: s.lastExit.at }
        : undefined,
    ...(parked ? { parked } : {}),
    nextScheduleChange: assignment?.nextChange,
    stream,
    ...(page ? { page } : {}),
    deviceLastFetch,
    suspended: i.suspended,
    error: i.error,
    generation: i.generation,
  };
}

/** A rotation as status shows it: URLs and errors redacted, indices 0-based. */
export function pageStatusOf(r: RotationState): PageStatus {
  const showing = r.showing === undefined ? undefined : r.pages[r.showing];
  return {
    ...(r.showing !== undefined ? { index: r.showing } : {}),
    count: r.pages.length,
    ...(showing ? { url: redactUrl(showing.url) } : {}),
    ...(r.since ? { since: r.since } : {}),
    ...(r.nextSwitchAt ? { nextSwitchAt: r.nextSwitchAt } : {}),
    inRotation: r.pages.filter((p) => p.inRotation).map((p) => p.index),
    failed: r.pages
      .filter((p) => p.state === 'failed')
      .map((p) => ({ index: p.index, url: redactUrl(p.url), error: redactText(p.error ?? 'failed to load') })),
  };
}

/** False while a page failed (it is skipped, the others rotate); Unknown until a page shows. */
function pagesReady(page: PageStatus): Omit<Condition, 'lastTransitionTime'> {
  if (page.failed.length > 0) {
    return cond('PagesReady', false, 'PageFailed', page.failed.map((f) => `page ${f.index} (${f.url}) failed: ${f.error}`).join('; '));
  }
  if (page.index === undefined) return cond('PagesReady', undefined, 'Loading', `${page.count} pages loading`);
  return cond('PagesReady', true, 'PagesShown', `${page.count} pages, ${page.inRotation.length} in the rotation now`);
}

function parkedOf(phase: Phase, cast$: CastSnap | undefined, stream$: StreamSnap | undefined): ParkedStatus | undefined {
  const c = cast$?.context;
  if (phase !== 'Parked' || c?.parkedAt === undefined || !c.away) return undefined;
  const streamStopped = stream$?.context.parkedAt !== undefined;
  const awaySince = new Date(c.away.since).toISOString();
  return {
    reason: c.away.reason,
    message: redactText(`${describeAway(c.away)}; ${streamStopped ? 'stream stopped until it is back' : 'the stream keeps running for another spec'}`),
    since: new Date(c.parkedAt).toISOString(),
    awaySince,
    streamStopped,
  };
}

function cap(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
