// `pagecast status` output: a table of every spec, or one spec in detail. Pure: the clock is a
// parameter, so the same status prints the same text.
import { escapeControl } from '../../specs/escape.js';
import { CONDITION_TYPES, type Condition, type PageStatus, type SpecStatus } from '../status/types.js';

const MESSAGE_WIDTH = 60;

/** Compact kubectl-style duration: 45s, 5m30s, 2h13m, 3d4h. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return s % 60 ? `${m}m${s % 60}s` : `${m}m`;
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 24) return m % 60 ? `${h}h${m % 60}m` : `${h}h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d}d${h % 24}h` : `${d}d`;
}

function parseTime(iso: string | undefined): number | undefined {
  if (!iso) return undefined;
  const t = Date.parse(iso);
  return Number.isNaN(t) ? undefined : t;
}

/** "3s ago" / "in 2h" relative to now; '-' when absent or unreadable. */
export function formatRelative(iso: string | undefined, now: Date): string {
  const t = parseTime(iso);
  if (t === undefined) return '-';
  const delta = t - now.getTime();
  return delta > 0 ? `in ${formatDuration(delta)}` : `${formatDuration(-delta)} ago`;
}

function latest(...isos: Array<string | undefined>): string | undefined {
  let best: { iso: string; t: number } | undefined;
  for (const iso of isos) {
    const t = parseTime(iso);
    if (t !== undefined && (!best || t > best.t)) best = { iso: iso!, t };
  }
  return best?.iso;
}

function truncate(text: string, width: number): string {
  const oneLine = text.replace(/\s*\n\s*/g, ' ').trim();
  const chars = [...oneLine];
  return chars.length <= width ? oneLine : chars.slice(0, width - 1).join('') + '…';
}

/**
 * What most needs saying about a spec: the file's current error, then a device conflict, then why
 * it is parked, then the first failing condition in pipeline order (the earliest failure is usually
 * the cause of the later ones), a hardware fallback last since the stream plays anyway.
 */
export function mostRelevantMessage(s: SpecStatus, now: Date = new Date()): string {
  if (s.error) return s.error;
  const conflict = s.conditions.find((c) => c.type === 'DeviceConflict' && c.status === 'True');
  if (conflict) return conflict.message || conflict.reason;
  // Parked on purpose: the stream's stopped components are its doing, not failures.
  if (s.parked) return `${s.parked.message} (away ${formatDuration(now.getTime() - (parseTime(s.parked.awaySince) ?? now.getTime()))})`;
  const rank = (c: Condition): number => {
    if (c.type === 'HardwareAcceleration') return 1000;
    const i = (CONDITION_TYPES as readonly string[]).indexOf(c.type);
    return i === -1 ? 500 : i;
  };
  const failing = s.conditions.filter((c) => c.status === 'False' && c.type !== 'DeviceConflict').sort((a, b) => rank(a) - rank(b));
  const first = failing[0];
  if (first) return `${first.type}: ${first.message || first.reason}`;
  if (s.lastDrift && (s.phase === 'Recovering' || s.phase === 'Waiting' || s.phase === 'Failed')) {
    return `${s.lastDrift.reason}${s.lastDrift.message ? `: ${s.lastDrift.message}` : ''}`;
  }
  return '';
}

/** "12:00:05", in this machine's zone; the text as given when it is not a time. */
function clockTime(iso: string): string {
  const t = parseTime(iso);
  if (t === undefined) return iso;
  const d = new Date(t);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
}

/**
 * The page on screen, numbered from 0 as `pagecast page` and the API take it:
 * "page 1 (of 0–2) https://grafana.example/d/x?[redacted] since 12:00:05, next 12:00:35".
 */
export function formatPageOnScreen(p: PageStatus): string {
  if (p.index === undefined) return `no page on screen yet (${p.count} pages)`;
  let text = `page ${p.index} (of 0–${p.count - 1})${p.url ? ` ${p.url}` : ''}`;
  if (p.since) text += ` since ${clockTime(p.since)}`;
  text += p.nextSwitchAt ? `, next ${clockTime(p.nextSwitchAt)}` : ', no other page to show';
  return text;
}

/** For the table: "page 1 (of 0–2), next 12:00:35: https://grafana.example/d/x?[redacted]". */
function formatPageBrief(p: PageStatus): string {
  if (p.index === undefined) return formatPageOnScreen(p);
  return `page ${p.index} (of 0–${p.count - 1})${p.nextSwitchAt ? `, next ${clockTime(p.nextSwitchAt)}` : ''}${p.url ? `: ${p.url}` : ''}`;
}

/** "2 https://… (HTTP 500)", one failed page. */
function formatFailedPage(f: PageStatus['failed'][number]): string {
  return `${f.index} ${f.url} (${f.error})`;
}

/** The page on screen and, if any, the pages that failed, on one line. */
export function formatPage(p: PageStatus): string {
  const failed = p.failed.length ? `; failed: ${p.failed.map(formatFailedPage).join(', ')}` : '';
  return `${formatPageOnScreen(p)}${failed}`;
}

/** The device's most recent fetch of the stream: the server-side proof that it plays. */
function lastFetch(s: SpecStatus): string | undefined {
  return latest(s.deviceLastFetch?.playlist, s.deviceLastFetch?.segment);
}

/** Next schedule change, else an ephemeral cast's end, else how long the phase has lasted. */
function ageOrNext(s: SpecStatus, now: Date): string {
  if (parseTime(s.nextScheduleChange) !== undefined) return formatRelative(s.nextScheduleChange, now);
  if (parseTime(s.source.expiresAt) !== undefined) return `ends ${formatRelative(s.source.expiresAt, now)}`;
  const since = latest(...s.conditions.map((c) => c.lastTransitionTime));
  const t = parseTime(since);
  return t === undefined ? '-' : formatDuration(now.getTime() - t);
}

function formatFps(s: SpecStatus): string {
  const fps = s.stream?.figures?.fps;
  return typeof fps === 'number' && Number.isFinite(fps) ? fps.toFixed(1) : '-';
}

/** A table for a terminal. Every cell is escaped: text from specs, devices and the API is never raw. */
export function renderTable(header: string[], rawRows: string[][]): string {
  const rows = rawRows.map((r) => r.map((c) => escapeControl(c, { oneLine: true })));
  const widths = header.map((h, i) => Math.max([...h].length, ...rows.map((r) => [...(r[i] ?? '')].length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c + ' '.repeat(widths[i]! - [...c].length)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

export function formatStatusTable(specs: SpecStatus[], now: Date = new Date()): string {
  if (specs.length === 0) return 'No specs.';
  // A site of several instances (etcd): which one runs each spec.
  const site = specs.some((s) => s.owner !== undefined);
  const header = ['NAME', ...(site ? ['OWNER'] : []), 'DEVICE', 'PHASE', 'RESTARTS', 'ENCODER', 'FPS', 'LAST FETCH', 'AGE/NEXT', 'MESSAGE'];
  const rows = [...specs]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((s) => [
      s.name,
      ...(site ? [s.owner ?? '-'] : []),
      truncate(s.device, 24),
      s.suspended && s.phase !== 'Suspended' ? `${s.phase} (suspended)` : s.phase,
      String(s.restarts),
      s.stream?.encoder ?? '-',
      formatFps(s),
      formatRelative(lastFetch(s), now),
      ageOrNext(s, now),
      // Nothing wrong: a rotation says which page is on screen (the times first: a long URL is cut).
      truncate(mostRelevantMessage(s, now) || (s.page ? formatPageBrief(s.page) : ''), MESSAGE_WIDTH),
    ]);
  return renderTable(header, rows);
}

/** "2025-03-01T09:00:00.000Z (3h ago)": a time in full, and how far from now. */
export function formatWhen(iso: string | undefined, now: Date): string {
  if (!iso) return '-';
  return parseTime(iso) === undefined ? iso : `${iso} (${formatRelative(iso, now)})`;
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

/** Every field of one spec's status, and its conditions as a table. */
export function formatStatusDetail(s: SpecStatus, now: Date = new Date()): string {
  const fields: Array<[string, string]> = [];
  const src = s.source;
  const source = src.ephemeral
    ? `ephemeral cast${src.expiresAt ? `, ends ${formatWhen(src.expiresAt, now)}` : ', until deleted'}`
    : src.file
      ? `${src.file}${src.line !== undefined ? `:${src.line}${src.column !== undefined ? `:${src.column}` : ''}` : ''}`
      : '-';
  fields.push(['Name', s.name], ['Source', source], ['Device', s.device], ['URL', s.url], ['Priority', String(s.priority)]);
  fields.push(['Phase', s.phase], ['Suspended', s.suspended ? 'yes' : 'no'], ['Generation', s.generation], ['Restarts', String(s.restarts)]);
  if (s.owner !== undefined) fields.push(['Owner', s.owner]);
  if (s.error) fields.push(['Error', s.error]);
  fields.push([
    'Last drift',
    s.lastDrift ? `${s.lastDrift.reason}${s.lastDrift.message ? ` (${s.lastDrift.message})` : ''}, ${formatRelative(s.lastDrift.at, now)}` : '-',
  ]);
  if (s.parked) {
    fields.push(['Parked', `${s.parked.reason}: ${s.parked.message}`], ['Away since', formatWhen(s.parked.awaySince, now)], ['Parked since', formatWhen(s.parked.since, now)]);
  }
  fields.push(['Next change', formatWhen(s.nextScheduleChange, now)]);
  if (s.page) {
    const p = s.page;
    const rotating = p.inRotation.length < p.count ? ` (in the rotation now: ${p.inRotation.length ? p.inRotation.join(', ') : 'none'})` : '';
    fields.push(['Page', `${formatPageOnScreen(p)}${rotating}`]);
    if (p.failed.length) fields.push(['Failed pages', p.failed.map(formatFailedPage).join('\n')]);
  }
  fields.push([
    'Device fetched',
    s.deviceLastFetch ? `playlist ${formatRelative(s.deviceLastFetch.playlist, now)}, segment ${formatRelative(s.deviceLastFetch.segment, now)}` : '-',
  ]);
  const st = s.stream;
  if (st) {
    fields.push(['Stream', `${st.id}${st.sharedWith.length ? ` (shared with ${st.sharedWith.join(', ')})` : ''}`]);
    fields.push(['Encoder', `${st.encoder ?? '-'}${st.fallbackReason ? ` (fallback: ${st.fallbackReason})` : ''}`]);
    const f = st.figures;
    fields.push([
      'Encoder figures',
      f
        ? `${f.fps.toFixed(1)} fps, speed ${f.speed.toFixed(2)}x, ${f.droppedFrames} dropped, ${f.duplicatedFrames} duplicated, ${Math.round(f.bitrateKbps)} kbps, frame ${f.frame} (${formatRelative(f.at, now)})`
        : '-',
    ]);
    // Why a page costs what it costs: how many frames are taken from the display, and how many encoded.
    if (f?.capture) fields.push(['Capture', `${f.capture.path}: ${f.capture.capturedFps.toFixed(1)} frames/s captured, ${f.capture.encodedFps.toFixed(1)} encoded`]);
  } else {
    fields.push(['Stream', '-']);
  }
  const width = Math.max(...fields.map(([k]) => k.length)) + 3;
  // Values are escaped; a multi-line error keeps its lines, indented under its label.
  const lines = fields.map(([k, v]) => `${(k + ':').padEnd(width)}${escapeControl(v).replace(/\n/g, `\n${' '.repeat(width)}`)}`);

  if (st && st.fetches.length) {
    lines.push('Fetches:');
    const table = renderTable(
      ['CLIENT', 'PLAYLIST', 'SEGMENT', 'BYTES'],
      st.fetches.map((x) => [x.client, formatRelative(x.lastPlaylistAt, now), formatRelative(x.lastSegmentAt, now), formatBytes(x.bytes)]),
    );
    for (const l of table.split('\n')) lines.push(`  ${l}`);
  }
  lines.push('Conditions:');
  if (s.conditions.length === 0) lines.push('  (none)');
  else {
    const table = renderTable(
      ['TYPE', 'STATUS', 'REASON', 'SINCE', 'MESSAGE'],
      s.conditions.map((c) => [c.type, c.status, c.reason || '-', formatRelative(c.lastTransitionTime, now), c.message.replace(/\s*\n\s*/g, ' ')]),
    );
    for (const l of table.split('\n')) lines.push(`  ${l}`);
  }
  return lines.join('\n');
}
