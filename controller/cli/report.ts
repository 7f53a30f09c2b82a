// `pagecast report [--since 24h] [--json] [--state-dir DIR]`: uptime per spec and device from the
// proof-of-play log (<state-dir>/play.jsonl and its rotated files). Reads files only: it works with
// the controller stopped, and beside a running one.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PagecastError } from '../../machines/errors.js';
import { processStartTime } from '../../machines/processes/registry.js';
import { parseDuration } from '../../specs/duration.js';
import { escapeControl } from '../../specs/escape.js';
import { defaultStateDir } from '../sources/state-dir.js';
import { LOCK_FILE } from '../sources/state-lock.js';
import { playIntervals, playReport, readPlayLog, type PlayReport } from '../status/play-log.js';
import { parseCommand } from './commands.js';
import { formatDuration, formatWhen, renderTable } from './status-format.js';

export interface ReportIO {
  now?: () => Date;
  out?: (text: string) => void;
  err?: (text: string) => void;
  env?: NodeJS.ProcessEnv;
}

/** `--since`: a duration back from now (24h, 7d) or a time (2025-06-01, 2025-06-01T08:00:00Z). */
export function parseSince(text: string, now: number): number {
  const ms = parseDuration(text);
  if (ms !== undefined && ms > 0) return now - ms;
  if (/^\d{4}-\d{2}-\d{2}/.test(text.trim())) {
    const t = Date.parse(text.trim());
    if (Number.isFinite(t)) {
      if (t > now) throw new PagecastError('CONFIG', `--since: ${text} is in the future`, { source: '--since' });
      return t;
    }
  }
  throw new PagecastError('CONFIG', `--since: expected a duration like 24h or 7d, or a time like 2025-06-01T08:00:00Z, got "${text}"`, { source: '--since' });
}

/** Whether a live controller holds the state directory's lock (its pid, started when it says). */
async function controllerRunning(stateDir: string): Promise<boolean> {
  try {
    const held = JSON.parse(await readFile(join(stateDir, LOCK_FILE), 'utf8')) as { pid?: unknown; startTime?: unknown };
    return typeof held.pid === 'number' && held.pid > 0 && processStartTime(held.pid) === held.startTime;
  } catch {
    return false;
  }
}

export async function reportCommand(args: string[], io: ReportIO = {}): Promise<number> {
  const out = io.out ?? ((t: string) => void process.stdout.write(t));
  const err = io.err ?? ((t: string) => void process.stderr.write(t));
  const now = (io.now ?? (() => new Date()))().getTime();
  try {
    const { values } = parseCommand('report', args);
    const since = values.since === undefined ? undefined : parseSince(values.since, now);
    const stateDir = values['state-dir'] ?? defaultStateDir(io.env);
    const read = await readPlayLog(stateDir);
    for (const w of read.warnings) err(`pagecast report: warning: ${escapeControl(w, { oneLine: true })}\n`);
    const intervals = playIntervals(read.records, { now, live: await controllerRunning(stateDir) });
    const from = since ?? Math.min(now, ...intervals.map((i) => i.start));
    const report = playReport(intervals, { since: from, until: now });
    if (values.json) {
      out(`${JSON.stringify({ stateDir, files: read.files, ...report, warnings: read.warnings }, null, 2)}\n`);
    } else {
      if (read.files.length === 0) err(`pagecast report: no play recorded yet in ${escapeControl(stateDir)} (play.jsonl)\n`);
      out(`${formatReport(report, since === undefined ? 'the whole log' : `--since ${values.since}`, new Date(now))}\n`);
    }
    return 0;
  } catch (e) {
    if (e instanceof PagecastError) {
      err(`pagecast report: ${escapeControl(e.message)}\n`);
      return e.source === '--since' || e.source === 'arguments' ? 2 : 1; // a usage error, as every command's
    }
    throw e;
  }
}

/**
 * The human table: spec, device, uptime, played time, interruptions by reason. As `pagecast
 * status` prints: times in full with how long ago, durations like 2h13m, cells escaped, '-' for none.
 */
export function formatReport(r: PlayReport, windowLabel: string, now: Date = new Date(r.until)): string {
  if (r.windowSeconds === 0 && r.rows.length === 0) return 'No play recorded.';
  const until = Date.parse(r.until) >= now.getTime() ? 'now' : formatWhen(r.until, now);
  const head = `Play from ${formatWhen(r.since, now)} to ${until}: ${formatDuration(r.windowSeconds * 1000)} (${windowLabel})`;
  if (r.rows.length === 0) return `${head}\nNo play in this window.`;
  const rows = r.rows.map((row) => [
    row.spec,
    row.device,
    `${(row.uptime * 100).toFixed(1)}%`,
    formatDuration(row.playedSeconds * 1000),
    row.playing ? 'playing' : '-',
    Object.entries(row.interruptions)
      .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
      .map(([reason, n]) => `${reason} ${n}`)
      .join(', ') || '-',
  ]);
  return `${head}\n${renderTable(['SPEC', 'DEVICE', 'UPTIME', 'PLAYED', 'NOW', 'INTERRUPTIONS'], rows)}`;
}
