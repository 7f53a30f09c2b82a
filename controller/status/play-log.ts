// Proof of play: an append-only, size-rotated JSONL file in the state directory with each interval
// of confirmed play per spec and device: the device PLAYING *and* the stream server seeing it fetch
// segments. Three parts, each usable alone:
//   PlayTracker   pure: observations (phase, when the cast began playing, the last segment fetch)
//                 → `open` / checkpoint / `close` records; the clock is a parameter
//   PlayLogWriter appends records (never rewrites), rotates by size: play.jsonl → play.1.jsonl …
//   readPlayLog, playIntervals, playReport   the reader: files → records → intervals → uptime
// The format is read by other tools (the soak benchmark): keep it exactly.
import { appendFile, readdir, readFile, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { PagecastError } from '../../machines/errors.js';
import type { Logger } from '../../machines/log.js';
import { mergeIntervals } from '../../specs/schedule.js';

export const PLAY_LOG = 'play.jsonl';
/** A checkpoint `open` line this often while an interval lasts: a kill loses at most this much. */
export const PLAY_CHECKPOINT_MS = 60_000;
/** No segment fetched for longer than this while PLAYING: the play is no longer confirmed. */
export const PLAY_STALL_MS = 7_000;
export const PLAY_LOG_MAX_BYTES = 4 * 1024 * 1024;
/** Rotated files kept beside the current one (play.1.jsonl is the newest of them). */
export const PLAY_LOG_KEEP = 5;

// ── the records ───────────────────────────────────────────────────────────────────────────────

const Iso = z.string().refine((t) => Number.isFinite(Date.parse(t)), { message: 'not a time' });

export const PlayOpenRecord = z.object({
  v: z.literal(1),
  type: z.literal('open'),
  spec: z.string().min(1),
  device: z.string(),
  start: Iso,
  /** = start when the interval begins; later, a checkpoint: still playing at this time. */
  at: Iso,
});
export const PlayCloseRecord = z.object({
  v: z.literal(1),
  type: z.literal('close'),
  spec: z.string().min(1),
  device: z.string(),
  start: Iso,
  end: Iso,
  reason: z.string(),
});
export const PlayRecordSchema = z.discriminatedUnion('type', [PlayOpenRecord, PlayCloseRecord]);
export type PlayRecord = z.infer<typeof PlayRecordSchema>;

/**
 * Why an interval ended, besides a drift reason (IdleCancelled, ConnectionLost, Standby, OtherApp,
 * Stalled, EncoderExited …, the spec's lastDrift.reason).
 */
export type EndReason =
  | 'NoFetches'
  | 'Parked'
  | 'SpecRemoved'
  | 'Suspended'
  | 'Scheduled'
  | 'Preempted'
  | 'StreamChanged'
  | 'DeviceChanged'
  | 'Shutdown'
  | 'ControllerDied'
  | (string & {});

// ── the tracker (pure) ────────────────────────────────────────────────────────────────────────

/** What the controller sees of one spec at one moment. Times in ms since the epoch. */
export interface PlayObservation {
  spec: string;
  /** The device as written in status. */
  device: string;
  /** The status phase (Playing, Recovering, …). */
  phase: string;
  /** When the cast last entered PLAYING; undefined when it is not playing. */
  playingSince?: number;
  /** The device address's last segment fetch from the cast's stream. */
  lastSegmentAt?: number;
  /** The stream the cast holds. */
  streamId?: string;
  /** The newest drift (device, encoder, browser, display) and when it happened. */
  drift?: { reason: string; at: number };
  /** Set when the spec is not meant to play now: the assignment or the sources say why. */
  off?: 'SpecRemoved' | 'Suspended' | 'Scheduled' | 'Preempted' | 'Parked';
}

interface OpenInterval {
  spec: string;
  device: string;
  start: number;
  playingSince: number;
  streamId?: string;
  checkpointAt: number;
  /** The drift already known when the interval opened: it did not end this one. */
  driftAt?: number;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** Whether an observation is confirmed play now: PLAYING, and a segment fetched since then, recently. */
export function confirmedPlay(o: PlayObservation, now: number, stallMs = PLAY_STALL_MS): boolean {
  return (
    o.phase === 'Playing' &&
    o.off === undefined &&
    o.playingSince !== undefined &&
    o.lastSegmentAt !== undefined &&
    o.lastSegmentAt >= o.playingSince &&
    now - o.lastSegmentAt <= stallMs
  );
}

/**
 * Turns observations into records. Level-triggered like the reconciler: each call is given every
 * spec that may play, and compares it with the intervals it holds open.
 */
export class PlayTracker {
  /** Open intervals by spec name (a spec plays on one device at a time). */
  private readonly open = new Map<string, OpenInterval>();

  constructor(private readonly opts: { stallMs?: number; checkpointMs?: number } = {}) {}

  get openCount(): number {
    return this.open.size;
  }

  /** Specs with an open interval: the caller observes these too, or they close as SpecRemoved. */
  openSpecs(): string[] {
    return [...this.open.keys()];
  }

  /**
   * The records these observations call for. A spec with an open interval that is not observed
   * closes as SpecRemoved (the caller observes every spec that has an actor or an open interval).
   */
  observe(observations: Iterable<PlayObservation>, now: number): PlayRecord[] {
    const out: PlayRecord[] = [];
    const seen = new Set<string>();
    for (const o of observations) {
      seen.add(o.spec);
      this.observeOne(o, now, out);
    }
    for (const [spec, iv] of this.open) if (!seen.has(spec)) this.close(iv, now, 'SpecRemoved', out);
    return out;
  }

  /** Closes every open interval (a graceful stop: Shutdown). */
  closeAll(reason: EndReason, now: number): PlayRecord[] {
    const out: PlayRecord[] = [];
    for (const iv of [...this.open.values()]) this.close(iv, now, reason, out);
    return out;
  }

  private observeOne(o: PlayObservation, now: number, out: PlayRecord[]): void {
    const confirmed = confirmedPlay(o, now, this.opts.stallMs);
    const iv = this.open.get(o.spec);
    if (iv) {
      const same = confirmed && iv.device === o.device && iv.playingSince === o.playingSince && iv.streamId === o.streamId;
      if (same) {
        if (now - iv.checkpointAt >= (this.opts.checkpointMs ?? PLAY_CHECKPOINT_MS)) {
          iv.checkpointAt = now;
          out.push({ v: 1, type: 'open', spec: iv.spec, device: iv.device, start: iso(iv.start), at: iso(now) });
        }
        return;
      }
      const { reason, end } = endOf(iv, o, now);
      this.close(iv, end, reason, out);
    }
    if (confirmed) {
      // The earliest fetch vouched for: the newest one seen at the first look after PLAYING began.
      const start = Math.min(now, o.lastSegmentAt!);
      this.open.set(o.spec, { spec: o.spec, device: o.device, start, playingSince: o.playingSince!, streamId: o.streamId, checkpointAt: start, driftAt: o.drift?.at });
      out.push({ v: 1, type: 'open', spec: o.spec, device: o.device, start: iso(start), at: iso(start) });
    }
  }

  private close(iv: OpenInterval, end: number, reason: EndReason, out: PlayRecord[]): void {
    this.open.delete(iv.spec);
    out.push({ v: 1, type: 'close', spec: iv.spec, device: iv.device, start: iso(iv.start), end: iso(Math.max(iv.start, end)), reason });
  }
}

/** Why an open interval no longer holds, and when it stopped holding. */
function endOf(iv: OpenInterval, o: PlayObservation, now: number): { reason: EndReason; end: number } {
  if (o.off) return { reason: o.off, end: now };
  if (o.device !== iv.device) return { reason: 'DeviceChanged', end: now };
  if (o.streamId !== undefined && iv.streamId !== undefined && o.streamId !== iv.streamId) return { reason: 'StreamChanged', end: now };
  // A drift since this play began is why it ended; it ended when the drift happened.
  if (o.drift && o.drift.at >= iv.playingSince && !(iv.driftAt !== undefined && o.drift.at <= iv.driftAt)) return { reason: o.drift.reason, end: Math.min(now, o.drift.at) };
  if (o.phase === 'Playing' && o.playingSince === iv.playingSince) {
    // Still PLAYING by the device's word, but no segment for too long: confirmed until the last one.
    return { reason: 'NoFetches', end: Math.min(now, o.lastSegmentAt ?? now) };
  }
  return { reason: o.phase === 'Playing' ? 'Restarted' : o.phase, end: now };
}

// ── the writer ────────────────────────────────────────────────────────────────────────────────

export interface PlayLogWriterOptions {
  /** The state directory. */
  dir: string;
  log: Logger;
  maxBytes?: number;
  keep?: number;
}

/** The path of the current file (n = 0) or of the n-th rotated one (play.<n>.jsonl). */
export function playLogPath(dir: string, n = 0): string {
  return join(dir, n === 0 ? PLAY_LOG : `play.${n}.jsonl`);
}

/**
 * Appends records, one line each, in order. A write that fails is logged (once while failing) and
 * its records are lost: proof of play never stops the controller.
 */
export class PlayLogWriter {
  private size?: number;
  private chain: Promise<void> = Promise.resolve();
  private failing = false;

  constructor(private readonly opts: PlayLogWriterOptions) {}

  append(records: readonly PlayRecord[]): Promise<void> {
    if (records.length === 0) return this.chain;
    const text = records.map((r) => `${JSON.stringify(r)}\n`).join('');
    this.chain = this.chain.then(() => this.write(text));
    return this.chain;
  }

  /** Resolves when every record appended so far is written (or has failed). */
  flush(): Promise<void> {
    return this.chain;
  }

  private async write(text: string): Promise<void> {
    const path = playLogPath(this.opts.dir);
    try {
      this.size ??= await stat(path).then(
        (s) => s.size,
        () => 0,
      );
      const bytes = Buffer.byteLength(text);
      if (this.size > 0 && this.size + bytes > (this.opts.maxBytes ?? PLAY_LOG_MAX_BYTES)) await this.rotate();
      await appendFile(path, text, { mode: 0o600 });
      this.size += bytes;
      if (this.failing) this.opts.log.info({ file: path }, 'play log written again');
      this.failing = false;
    } catch (err) {
      this.size = undefined; // unknown now: asked again next time
      if (!this.failing) this.opts.log.warn({ file: path, err: err instanceof Error ? err.message : String(err) }, 'play log write failed; proof of play is lost until it works again');
      this.failing = true;
    }
  }

  /** play.<keep-1> → play.<keep> (replacing the oldest) … play.jsonl → play.1.jsonl. */
  private async rotate(): Promise<void> {
    const dir = this.opts.dir;
    for (let n = (this.opts.keep ?? PLAY_LOG_KEEP) - 1; n >= 0; n--) {
      await rename(playLogPath(dir, n), playLogPath(dir, n + 1)).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
    }
    this.size = 0;
  }
}

// ── the reader ────────────────────────────────────────────────────────────────────────────────

export interface PlayLogRead {
  /** Every record, oldest file first, in file order. */
  records: PlayRecord[];
  /** The files read, oldest first. */
  files: string[];
  /** Lines skipped, each naming file and line. */
  warnings: string[];
}

const ROTATED = /^play(?:\.(\d+))?\.jsonl$/;

/**
 * Reads play.jsonl and its rotated files in `dir`, oldest first. A corrupt line (half written when
 * the controller was killed) is skipped with a warning naming file and line. Throws a
 * PagecastError naming the directory only when the directory itself cannot be read.
 */
export async function readPlayLog(dir: string): Promise<PlayLogRead> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such directory' : code === 'ENOTDIR' ? 'not a directory' : (err as Error).message;
    throw new PagecastError('CONFIG', `state directory ${dir}: ${why}`, { source: dir, cause: err });
  }
  const files = names
    .map((name) => ({ name, m: ROTATED.exec(name) }))
    .filter((x) => x.m)
    .map((x) => ({ path: join(dir, x.name), n: Number(x.m![1] ?? 0) }))
    .sort((a, b) => b.n - a.n)
    .map((x) => x.path);
  const out: PlayLogRead = { records: [], files: [], warnings: [] };
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      // Rotated away between the listing and the read, or unreadable: say so, read the rest.
      out.warnings.push(`${file}: cannot read: ${(err as Error).message}`);
      continue;
    }
    out.files.push(file);
    parsePlayLines(text, file, out);
  }
  return out;
}

/** Parses JSONL text into `into.records`; bad lines become warnings naming `file:line`. */
export function parsePlayLines(text: string, file: string, into: { records: PlayRecord[]; warnings: string[] }): void {
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      const last = i === lines.length - 1;
      into.warnings.push(`${file}:${i + 1}: skipped: not valid JSON${last ? ' (a line cut short, the writer was killed?)' : ''}: ${(err as Error).message}`);
      continue;
    }
    const r = PlayRecordSchema.safeParse(value);
    if (!r.success) {
      const issue = r.error.issues[0]!;
      into.warnings.push(`${file}:${i + 1}: skipped: not a play record: ${issue.path.length ? `${issue.path.join('.')}: ` : ''}${issue.message}`);
      continue;
    }
    into.records.push(r.data);
  }
}

/** One interval of confirmed play. Times in ms since the epoch. */
export interface PlayInterval {
  spec: string;
  device: string;
  start: number;
  end: number;
  /** Why it ended; undefined while it still lasts (see `live`). */
  reason?: EndReason;
}

export interface IntervalOptions {
  /** The time of the report. */
  now?: number;
  /**
   * A controller holds the state directory now: an interval with no close whose last checkpoint is
   * within `liveWithinMs` of `now` is still going (end = now, no reason), not a dead one.
   */
  live?: boolean;
  liveWithinMs?: number;
}

/**
 * Merges open and close records into intervals, by (spec, device, start). A close stands alone (it
 * carries its start, so a rotated-away open costs nothing). An open with no close is play until its
 * last checkpoint, ended by ControllerDied, and never past the start of the pair's next interval.
 */
export function playIntervals(records: readonly PlayRecord[], opts: IntervalOptions = {}): PlayInterval[] {
  const byKey = new Map<string, { spec: string; device: string; start: number; lastAt: number; end?: number; reason?: string }>();
  for (const r of records) {
    const start = Date.parse(r.start);
    const key = `${r.spec}\0${r.device}\0${start}`;
    let e = byKey.get(key);
    if (!e) byKey.set(key, (e = { spec: r.spec, device: r.device, start, lastAt: start }));
    if (r.type === 'open') e.lastAt = Math.max(e.lastAt, Date.parse(r.at));
    else {
      e.end = Date.parse(r.end);
      e.reason = r.reason;
    }
  }
  const entries = [...byKey.values()].sort((a, b) => a.start - b.start);
  const nextStart = new Map<string, number>();
  const out: PlayInterval[] = [];
  // Newest first, so each entry knows when the same spec and device next began to play.
  for (let i = entries.length - 1; i >= 0; i--) {
    const e = entries[i]!;
    const pair = `${e.spec}\0${e.device}`;
    const next = nextStart.get(pair);
    nextStart.set(pair, e.start);
    if (e.end !== undefined) {
      out.push({ spec: e.spec, device: e.device, start: e.start, end: Math.max(e.start, e.end), reason: e.reason });
      continue;
    }
    const liveWithin = opts.liveWithinMs ?? 2 * PLAY_CHECKPOINT_MS;
    if (opts.live && opts.now !== undefined && next === undefined && opts.now - e.lastAt <= liveWithin) {
      out.push({ spec: e.spec, device: e.device, start: e.start, end: Math.max(e.start, opts.now) });
      continue;
    }
    const end = next === undefined ? e.lastAt : Math.min(e.lastAt, next);
    out.push({ spec: e.spec, device: e.device, start: e.start, end: Math.max(e.start, end), reason: 'ControllerDied' });
  }
  return out.reverse();
}

export interface PlayReportRow {
  spec: string;
  device: string;
  /** Played time over the window, 0..1. */
  uptime: number;
  playedSeconds: number;
  /** Intervals that overlap the window. */
  intervals: number;
  /** Why intervals ended inside the window, by reason. */
  interruptions: Record<string, number>;
  /** An interval still lasts at the end of the window. */
  playing: boolean;
}

export interface PlayReport {
  since: string;
  until: string;
  windowSeconds: number;
  rows: PlayReportRow[];
}

/**
 * Uptime per spec and device over [since, until]: the union of its intervals clipped to the window
 * (overlaps never count twice) over the window's length.
 */
export function playReport(intervals: readonly PlayInterval[], window: { since: number; until: number }): PlayReport {
  const { since, until } = window;
  const span = Math.max(0, until - since);
  const pairs = new Map<string, PlayInterval[]>();
  for (const iv of intervals) {
    if (iv.end < since || iv.start > until) continue;
    const key = `${iv.spec}\0${iv.device}`;
    const list = pairs.get(key);
    if (list) list.push(iv);
    else pairs.set(key, [iv]);
  }
  const rows: PlayReportRow[] = [];
  for (const list of pairs.values()) {
    list.sort((a, b) => a.start - b.start);
    const clipped = list.map((iv) => ({ start: Math.max(iv.start, since), end: Math.min(iv.end, until) })).filter((iv) => iv.end > iv.start);
    const played = mergeIntervals(clipped).reduce((sum, iv) => sum + iv.end - iv.start, 0);
    const interruptions: Record<string, number> = {};
    let playing = false;
    for (const iv of list) {
      if (iv.reason === undefined) playing = true;
      else if (iv.end <= until) interruptions[iv.reason] = (interruptions[iv.reason] ?? 0) + 1;
    }
    rows.push({
      spec: list[0]!.spec,
      device: list[0]!.device,
      uptime: span > 0 ? Math.min(1, played / span) : 0,
      playedSeconds: Math.round(played / 100) / 10,
      intervals: list.length,
      interruptions,
      playing,
    });
  }
  rows.sort((a, b) => a.spec.localeCompare(b.spec) || a.device.localeCompare(b.device));
  return { since: iso(since), until: iso(until), windowSeconds: Math.round(span / 1000), rows };
}
