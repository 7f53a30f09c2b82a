// The console's pages and the fragments the live feed swaps into them: pure functions of the
// status (already redacted) to HTML. Times are written as <time datetime> in UTC; console.js shows
// them as "12 s ago" in the browser, so a fragment reads the same until something really changed.
import type { Condition, DevicesView, DriftRecord, LogLine, Phase, PlaySpan, SpecSourceView, SpecStatus } from '../../status/types.js';
import { playTimeline, timelineShares, type TimelineState } from '../../status/timeline.js';
import { html, raw, type Html, type Renderable } from './html.js';
import { ASSET_URLS } from './assets.js';

export interface ViewContext {
  /** Prefix of every link (a proxy's path, e.g. Home Assistant's ingress); '' at the root. */
  base: string;
  /** Present when the browser holds a session: actions are shown, forms carry this CSRF token. */
  csrf?: string;
  /** A token is set: sessions (and sign-in) exist. */
  tokenSet: boolean;
  /** The time of the render, ms since the epoch. */
  now: number;
  /** Through Home Assistant's ingress, which signed the user in: no sign-in or sign-out here. */
  ingress?: boolean;
}

export const DAY_MS = 86_400_000;

/** The order phases are counted and listed in: the ones that need a look first. */
export const PHASE_ORDER: readonly Phase[] = ['Failed', 'Recovering', 'Starting', 'Waiting', 'Parked', 'Playing', 'Preempted', 'Scheduled', 'Suspended', 'Pending', 'Stopped'];

const PHASE_TONE: Record<Phase, 'ok' | 'busy' | 'rest' | 'bad' | 'idle'> = {
  Playing: 'ok',
  Starting: 'busy',
  Recovering: 'busy',
  Waiting: 'busy',
  Parked: 'rest',
  Failed: 'bad',
  Pending: 'idle',
  Scheduled: 'idle',
  Preempted: 'idle',
  Suspended: 'idle',
  Stopped: 'idle',
};

const u = (ctx: ViewContext, path: string) => `${ctx.base}${path}`;

/** A region that scrolls sideways on a narrow screen (not the page): focusable, so keys scroll it. */
function scroll(label: string, content: Html): Html {
  return html`<div class="scroll" tabindex="0" role="region" aria-label="${label}">${content}</div>`;
}
const enc = encodeURIComponent;

// ── the frame ──────────────────────────────────────────────────────────────────────────────

/**
 * htmx: no inline styles or eval (the CSP allows neither), and error answers are swapped too,
 * so a refused action says why where the result goes.
 */
const HTMX_CONFIG = JSON.stringify({
  includeIndicatorStyles: false,
  allowEval: false,
  allowScriptTags: false,
  historyCacheSize: 0,
  responseHandling: [
    { code: '204', swap: false },
    { code: '[2345]..', swap: true },
  ],
});

export function page(ctx: ViewContext, o: { title: string; current?: 'overview' | 'devices'; body: Html; scripts?: string[] }): Html {
  const nav = (href: string, label: string, key: 'overview' | 'devices') =>
    html`<a href="${u(ctx, href)}"${o.current === key ? raw(' aria-current="page"') : ''}>${label}</a>`;
  const scripts = [ASSET_URLS.htmx, ASSET_URLS.sse, ...(o.scripts ?? []), ASSET_URLS.js];
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${o.title} · pagecast</title>
<meta name="htmx-config" content="${HTMX_CONFIG}">
<link rel="stylesheet" href="${u(ctx, ASSET_URLS.css)}">
${scripts.map((s) => html`<script src="${u(ctx, s)}" defer></script>\n`)}</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
<a class="brand" href="${u(ctx, '/')}">pagecast</a>
<nav aria-label="Main">${nav('/', 'Overview', 'overview')}${nav('/devices', 'Devices', 'devices')}</nav>
${account(ctx)}
</header>
<main id="main">
${o.body}
</main>
</body>
</html>
`;
}

function account(ctx: ViewContext): Html {
  if (ctx.ingress) return html`<span class="who">signed in through Home Assistant</span>`;
  if (!ctx.tokenSet) return html`<span class="who">no token set: actions are open</span>`;
  if (!ctx.csrf) return html`<a class="who" href="${u(ctx, '/login')}">Sign in</a>`;
  return html`<form class="who" method="post" action="${u(ctx, '/logout')}">${csrfField(ctx)}<button type="submit" class="link">Sign out</button></form>`;
}

function csrfField(ctx: ViewContext): Html {
  return html`<input type="hidden" name="_csrf" value="${ctx.csrf ?? ''}">`;
}

/** A result area that screen readers announce. */
function flashArea(id: string): Html {
  return html`<div id="${id}" class="flash" role="status" aria-live="polite"></div>`;
}

export function flash(kind: 'ok' | 'error', message: string): Html {
  return html`<p class="msg msg-${kind}">${message}</p>`;
}

// ── small parts ────────────────────────────────────────────────────────────────────────────

export function badge(phase: Phase): Html {
  return html`<span class="badge tone-${PHASE_TONE[phase]}">${phase}</span>`;
}

/** A time as written (UTC) and as console.js rewrites it ("12 s ago"). */
function when(iso: string | undefined): Html {
  if (!iso) return html`<span class="muted">never</span>`;
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return html`<span class="muted">${iso}</span>`;
  return html`<time datetime="${new Date(t).toISOString()}" data-ago>${new Date(t).toISOString().replace('T', ' ').slice(0, 19)} UTC</time>`;
}

/** Conditions that are bad when True (a conflict, a stepped-down encoder); the rest are bad when False. */
const BAD_WHEN_TRUE = new Set(['DeviceConflict', 'EncoderDegraded']);
/** Conditions that inform rather than fail: a software fallback, a park. */
const INFORMATIVE = new Set(['HardwareAcceleration', 'Parked']);

/** Whether a condition says something is wrong. */
export function isBad(c: Condition): boolean {
  if (INFORMATIVE.has(c.type) || c.reason === 'Parked') return false;
  return BAD_WHEN_TRUE.has(c.type) ? c.status === 'True' : c.status === 'False';
}

/** The condition that says what is wrong, if one does. */
export function failingCondition(s: SpecStatus): Condition | undefined {
  return s.conditions.find(isBad);
}

function encoderLine(s: SpecStatus): Renderable {
  const st = s.stream;
  if (!st?.encoder) return html`<span class="muted">not running</span>`;
  const f = st.figures;
  if (!f) return html`${st.encoder}`;
  // With the capture's figures: frames taken from the display, and how many of them were encoded.
  const rate = f.capture ? `${f.capture.path} ${Math.round(f.capture.capturedFps)} → ${+f.capture.encodedFps.toFixed(1)} fps` : `${Math.round(f.fps)} fps`;
  return html`${st.encoder} · ${rate} · ${f.speed.toFixed(2)}×`;
}

const STATE_LABEL: Record<TimelineState, string> = { playing: 'playing', parked: 'parked', recovering: 'recovering', stopped: 'stopped' };

/** The last 24 hours as a bar: SVG rects (attributes, not inline styles: the CSP forbids those). */
export function timelineBar(spans: readonly PlaySpan[], phase: Phase, now: number, label: string): Html {
  const since = now - DAY_MS;
  const segments = playTimeline(spans, { since, until: now }, phase);
  const shares = timelineShares(segments);
  const text = (Object.keys(shares) as TimelineState[])
    .filter((k) => shares[k] > 0)
    // A share is never shown as 0% or, beside another, as 100%.
    .map((k) => `${STATE_LABEL[k]} ${shares[k] < 0.01 ? '<1' : shares[k] < 1 ? Math.min(99, Math.round(shares[k] * 100)) : 100}%`)
    .join(', ');
  const x = (t: number) => (((t - since) / DAY_MS) * 1000).toFixed(1);
  const w = (a: number, b: number) => Math.max(0.5, ((b - a) / DAY_MS) * 1000).toFixed(1);
  return html`<figure class="timeline"><svg viewBox="0 0 1000 10" preserveAspectRatio="none" role="img" aria-label="${label}, last 24 hours: ${text || 'no record'}">${segments.map(
    (s) => html`<rect x="${x(s.start)}" y="0" width="${w(s.start, s.end)}" height="10" class="tl-${s.state}"></rect>`,
  )}</svg><figcaption class="tl-legend"><span>24 h ago</span><span>${text || 'no record'}</span><span>now</span></figcaption></figure>`;
}

// ── overview ───────────────────────────────────────────────────────────────────────────────

export interface OverviewData {
  specs: SpecStatus[];
  /** Play intervals of the last 24 hours, every spec's. */
  spans: PlaySpan[];
  /** Device names for the cast form's suggestions. */
  deviceNames: string[];
}

export function countsFragment(specs: readonly SpecStatus[]): Html {
  if (specs.length === 0) return html`No specs yet.`;
  const by = new Map<Phase, number>();
  for (const s of specs) by.set(s.phase, (by.get(s.phase) ?? 0) + 1);
  const parts = PHASE_ORDER.filter((p) => by.has(p)).map((p) => html`<span class="count tone-${PHASE_TONE[p]}">${by.get(p)} ${p.toLowerCase()}</span>`);
  return html`${specs.length} ${specs.length === 1 ? 'spec' : 'specs'}: ${parts.map((p, i) => html`${i ? ', ' : ''}${p}`)}`;
}

export function cardFragment(ctx: ViewContext, s: SpecStatus, spans: readonly PlaySpan[]): Html {
  const problem = failingCondition(s);
  const href = u(ctx, `/specs/${enc(s.name)}`);
  const thumb = s.stream
    ? html`<img class="thumb" src="${u(ctx, `/api/v1/specs/${enc(s.name)}/thumbnail.jpg`)}" alt="What ${s.name} shows now" width="320" height="180" data-refresh>`
    : html`<div class="thumb none"><span>no picture: ${s.phase.toLowerCase()}</span></div>`;
  return html`<article class="card" aria-labelledby="t-${s.name}">
${thumb}
<div class="card-body">
<h2 id="t-${s.name}" class="card-title"><a href="${href}">${s.name}</a> ${badge(s.phase)}</h2>
<p class="device">${s.device}${s.source.ephemeral ? html` <span class="tag">ephemeral</span>` : ''}${s.suspended ? html` <span class="tag">suspended</span>` : ''}</p>
${problem ? html`<p class="problem"><strong>${problem.type}:</strong> ${problem.message || problem.reason}</p>` : ''}
${s.parked ? html`<p class="note">${s.parked.message}</p>` : ''}
<dl class="facts">
<div><dt>Restarts</dt><dd>${s.restarts}</dd></div>
<div><dt>Last drift</dt><dd>${s.lastDrift ? html`${s.lastDrift.reason}, ${when(s.lastDrift.at)}` : html`<span class="muted">none</span>`}</dd></div>
<div><dt>Encoder</dt><dd>${encoderLine(s)}</dd></div>
<div><dt>Last fetch</dt><dd>${when(s.deviceLastFetch?.segment ?? s.deviceLastFetch?.playlist)}</dd></div>
</dl>
${timelineBar(
  spans.filter((p) => p.spec === s.name),
  s.phase,
  ctx.now,
  `Play of ${s.name}`,
)}
</div>
</article>`;
}

export function cardsFragment(ctx: ViewContext, specs: readonly SpecStatus[], spans: readonly PlaySpan[]): Html {
  if (specs.length === 0) return html`<p class="empty">No specs. Put a spec file in the specs directory, or start a cast below.</p>`;
  return html`<ul class="cards">${specs.map((s) => html`<li id="card-${s.name}" sse-swap="card-${s.name}">${cardFragment(ctx, s, spans)}</li>`)}</ul>`;
}

export function overviewPage(ctx: ViewContext, d: OverviewData): Html {
  return page(ctx, {
    title: 'Overview',
    current: 'overview',
    body: html`<h1>Overview</h1>
<div hx-ext="sse" sse-connect="${u(ctx, '/events/overview')}">
<p id="counts" class="counts" sse-swap="counts">${countsFragment(d.specs)}</p>
<div id="cards" sse-swap="cards">${cardsFragment(ctx, d.specs, d.spans)}</div>
</div>
${castForm(ctx, d.deviceNames)}`,
  });
}

function castForm(ctx: ViewContext, deviceNames: readonly string[]): Html {
  if (!ctx.csrf && ctx.tokenSet) return html`<section class="panel" aria-labelledby="cast-h"><h2 id="cast-h">Start a cast</h2><p><a href="${u(ctx, '/login')}">Sign in</a> to start a cast or to act on a spec.</p></section>`;
  return html`<section class="panel" aria-labelledby="cast-h">
<h2 id="cast-h">Start a cast</h2>
<form class="cast-form" method="post" action="${u(ctx, '/actions/casts')}" hx-post="${u(ctx, '/actions/casts')}" hx-target="#cast-result">
${csrfField(ctx)}
<label>Device <input name="device" required list="device-names" autocomplete="off"></label>
<datalist id="device-names">${deviceNames.map((n) => html`<option value="${n}"></option>`)}</datalist>
<label>URL <input name="url" type="url" required placeholder="https://…" autocomplete="off"></label>
<label>Quality <select name="quality"><option value="">default</option><option>480p</option><option>720p</option><option>1080p</option></select></label>
<label>Duration <input name="duration" placeholder="10m (empty: until ended)" autocomplete="off"></label>
<label>Name <input name="name" placeholder="optional" pattern="[a-z0-9-]{1,63}" autocomplete="off"></label>
<button type="submit">Start cast</button>
</form>
${flashArea('cast-result')}
</section>`;
}

// ── spec detail ────────────────────────────────────────────────────────────────────────────

export interface DetailData {
  status: SpecStatus;
  drifts: DriftRecord[];
  logs: LogLine[];
  spans: PlaySpan[];
}

function actionButton(ctx: ViewContext, name: string, verb: string, label: string, extra?: Html): Html {
  const path = u(ctx, `/actions/${enc(name)}/${verb}`);
  return html`<form method="post" action="${path}" hx-post="${path}" hx-target="#action-result">${csrfField(ctx)}${extra ?? ''}<button type="submit">${label}</button></form>`;
}

function actions(ctx: ViewContext, s: SpecStatus): Html {
  if (!ctx.csrf && ctx.tokenSet) return html`<p class="actions-off"><a href="${u(ctx, `/login?next=${enc(`/specs/${s.name}`)}`)}">Sign in</a> to suspend, cast again, reload or restart.</p>`;
  const running = !!s.stream;
  return html`<div class="actions" role="group" aria-label="Actions on ${s.name}">
${s.suspended ? actionButton(ctx, s.name, 'resume', 'Resume') : actionButton(ctx, s.name, 'suspend', 'Suspend')}
${running ? html`${actionButton(ctx, s.name, 'recast', 'Cast again now')}${actionButton(ctx, s.name, 'reload', 'Reload page')}${actionButton(ctx, s.name, 'restart', 'Restart stream')}` : ''}
${s.source.ephemeral ? actionButton(ctx, s.name, 'end', 'End cast') : ''}
</div>`;
}

function pageSection(ctx: ViewContext, s: SpecStatus): Renderable {
  const p = s.page;
  if (!p) return '';
  const canJump = !!ctx.csrf || !ctx.tokenSet;
  const path = u(ctx, `/actions/${enc(s.name)}/page`);
  return html`<section class="panel" aria-labelledby="pages-h"><h2 id="pages-h">Pages</h2>
<p>${p.index === undefined ? 'No page on screen yet' : html`Page ${p.index + 1} of ${p.count} on screen${p.url ? html`: <code>${p.url}</code>` : ''}${p.since ? html`, since ${when(p.since)}` : ''}`}${p.nextSwitchAt ? html`; next switch ${when(p.nextSwitchAt)}` : ''}.</p>
${p.failed.length ? html`<ul class="problems">${p.failed.map((f) => html`<li>Page ${f.index + 1} (<code>${f.url}</code>) failed: ${f.error}</li>`)}</ul>` : ''}
${
  canJump
    ? html`<form class="pages" method="post" action="${path}" hx-post="${path}" hx-target="#action-result">${csrfField(ctx)}${Array.from(
        { length: p.count },
        (_, i) =>
          html`<button type="submit" name="index" value="${i}"${i === p.index ? raw(' aria-current="true"') : ''}${p.inRotation.includes(i) ? '' : raw(' class="out"')}>Show page ${i + 1}</button>`,
      )}</form>`
    : ''
}
</section>`;
}

function conditionsTable(s: SpecStatus): Html {
  return html`<section class="panel" aria-labelledby="cond-h"><h2 id="cond-h">Conditions</h2>
${scroll('Conditions table', html`<table>
<thead><tr><th scope="col">Type</th><th scope="col">Status</th><th scope="col">Reason</th><th scope="col">Message</th><th scope="col">Since</th></tr></thead>
<tbody>${s.conditions.map(
    (c) =>
      html`<tr${isBad(c) ? raw(' class="cond-bad"') : ''}><th scope="row">${c.type}</th><td>${c.status}</td><td>${c.reason}</td><td>${c.message}</td><td>${when(c.lastTransitionTime)}</td></tr>`,
  )}</tbody>
</table>`)}</section>`;
}

function driftList(drifts: readonly DriftRecord[], last: SpecStatus['lastDrift']): Html {
  const list = drifts.length ? drifts : last ? [last] : [];
  return html`<section class="panel" aria-labelledby="drift-h"><h2 id="drift-h">Drift history</h2>
${
  list.length === 0
    ? html`<p class="muted">No drift since the controller started.</p>`
    : html`<ol class="drifts" reversed>${[...list].reverse().map((d) => html`<li>${when(d.at)} <strong>${d.reason}</strong>${d.message ? html`: ${d.message}` : ''}</li>`)}</ol>`
}
</section>`;
}

function logList(logs: readonly LogLine[]): Html {
  return html`<section class="panel" aria-labelledby="log-h"><h2 id="log-h">Recent log</h2>
${
  logs.length === 0
    ? html`<p class="muted">No log lines for this spec yet.</p>`
    : scroll('Log lines', html`<ol class="log">${logs
        .slice(-50)
        .reverse()
        .map(
          (l) =>
            html`<li class="lv-${l.level}"><time datetime="${l.time}">${l.time.slice(11, 19)}</time> <span class="lv">${l.level}</span>${l.component ? html` <span class="comp">[${l.component}]</span>` : ''} ${l.msg}${l.fields ? html` <span class="fields">${l.fields}</span>` : ''}</li>`,
        )}</ol>`)
}
</section>`;
}

export function detailFragment(ctx: ViewContext, d: DetailData): Html {
  const s = d.status;
  const problem = failingCondition(s);
  return html`<div class="detail-head panel first">
<p class="phase-line">${badge(s.phase)} on <strong>${s.device}</strong>${s.suspended ? html` <span class="tag">suspended</span>` : ''}${s.source.ephemeral ? html` <span class="tag">ephemeral${s.source.expiresAt ? html`, ends ${when(s.source.expiresAt)}` : ''}</span>` : ''}</p>
${problem ? html`<p class="problem"><strong>${problem.type}:</strong> ${problem.message || problem.reason}</p>` : ''}
${s.error ? html`<p class="problem"><strong>Spec file error</strong> (the last good version runs): ${s.error}</p>` : ''}
<dl class="facts">
<div><dt>URL</dt><dd><code>${s.url}</code></dd></div>
<div><dt>Restarts</dt><dd>${s.restarts}</dd></div>
<div><dt>Last drift</dt><dd>${s.lastDrift ? html`${s.lastDrift.reason}, ${when(s.lastDrift.at)}` : html`<span class="muted">none</span>`}</dd></div>
<div><dt>Encoder</dt><dd>${encoderLine(s)}</dd></div>
<div><dt>Last fetch</dt><dd>${when(s.deviceLastFetch?.segment ?? s.deviceLastFetch?.playlist)}</dd></div>
${s.nextScheduleChange ? html`<div><dt>Next schedule change</dt><dd>${when(s.nextScheduleChange)}</dd></div>` : ''}
${s.stream?.sharedWith.length ? html`<div><dt>Stream shared with</dt><dd>${s.stream.sharedWith.join(', ')}</dd></div>` : ''}
</dl>
${timelineBar(d.spans, s.phase, ctx.now, `Play of ${s.name}`)}
${actions(ctx, s)}
</div>
${pageSection(ctx, s)}
${conditionsTable(s)}
${driftList(d.drifts, s.lastDrift)}
${logList(d.logs)}`;
}

/** The spec's YAML, line by line; a line an error names is marked and followed by the error. */
export function yamlFragment(src: SpecSourceView | undefined): Html {
  if (!src) return html`<p class="muted">No spec.</p>`;
  const lines = src.text.replace(/\n$/, '').split('\n');
  const byLine = new Map<number, SpecSourceView['errors']>();
  for (const e of src.errors) if (e.line !== undefined) byLine.set(e.line, [...(byLine.get(e.line) ?? []), e]);
  const loose = src.errors.filter((e) => e.line === undefined || e.line > lines.length);
  return html`<h2 id="yaml-h">${src.file ? html`Spec file <code>${src.file}</code>` : 'Spec (ephemeral cast)'}</h2>
${src.errors.length ? html`<p class="problem" id="yaml-errors">${src.errors.length} ${src.errors.length === 1 ? 'error' : 'errors'} in this file: the last good version keeps running.</p>` : ''}
${loose.length ? html`<ul class="problems">${loose.map((e) => html`<li>${e.message}</li>`)}</ul>` : ''}
${scroll('Spec file text', html`<pre class="yaml"><code>${lines.map((text, i) => {
    const n = i + 1;
    const errs = byLine.get(n);
    const own = src.line !== undefined && n >= src.line;
    return html`<span class="ln${errs ? ' err' : ''}${own ? '' : ' other'}" id="L${n}"><span class="no" aria-hidden="true">${n}</span>${text}${
      errs ? errs.map((e) => html`<span class="err-msg" role="note"> ← line ${n}${e.column ? `:${e.column}` : ''}: ${e.message}</span>`) : ''
    }</span>`;
  })}</code></pre>`)}`;
}

export function specPage(ctx: ViewContext, d: DetailData & { source: SpecSourceView | undefined; preview: boolean }): Html {
  const s = d.status;
  const name = enc(s.name);
  const preview = d.preview
    ? html`<video id="preview" class="preview" muted playsinline controls width="854" height="480" data-src="${u(ctx, `/api/v1/specs/${name}/stream/master.m3u8`)}" aria-label="Live preview of ${s.name}: the stream the TV gets"></video><p class="muted" id="preview-state" role="status"></p>`
    : s.stream
      ? html`<p>${ctx.tokenSet && !ctx.csrf ? html`<a href="${u(ctx, `/login?next=${enc(`/specs/${s.name}`)}`)}">Sign in</a> to watch the live preview.` : 'The preview needs a session.'}</p>`
      : html`<p class="muted">No stream runs for this spec now (${s.phase.toLowerCase()}).</p>`;
  return page(ctx, {
    title: s.name,
    scripts: d.preview ? [ASSET_URLS.hls] : [],
    body: html`<nav aria-label="Breadcrumb" class="crumbs"><a href="${u(ctx, '/')}">Overview</a> › <span aria-current="page">${s.name}</span></nav>
<h1>${s.name}</h1>
${flashArea('action-result')}
<div class="spec-grid" hx-ext="sse" sse-connect="${u(ctx, `/events/specs/${name}`)}">
<div id="detail" sse-swap="detail">${detailFragment(ctx, d)}</div>
<div class="side">
<section class="panel first" aria-labelledby="preview-h"><h2 id="preview-h">Live preview</h2>${preview}</section>
<section class="panel" id="yaml" sse-swap="yaml" aria-labelledby="yaml-h">${yamlFragment(d.source)}</section>
</div>
</div>`,
  });
}

// ── devices ────────────────────────────────────────────────────────────────────────────────

export function devicesPage(ctx: ViewContext, v: DevicesView): Html {
  return page(ctx, {
    title: 'Devices',
    current: 'devices',
    body: html`<h1>Devices</h1>
<p class="muted">What mDNS saw at ${when(v.at)}, and the devices the specs name that it did not see.${v.error ? html` mDNS could not be asked: ${v.error}` : ''}</p>
${
  v.devices.length === 0
    ? html`<p class="empty">No Cast device answered, and no spec names one.</p>`
    : scroll('Devices table', html`<table class="devices">
<thead><tr><th scope="col">Device</th><th scope="col">Model</th><th scope="col">Address</th><th scope="col">Running</th><th scope="col">Specs</th><th scope="col">mDNS</th></tr></thead>
<tbody>${v.devices.map(
        (d) => html`<tr><th scope="row">${d.name}</th><td>${d.model ?? ''}</td><td>${d.address ?? html`<span class="muted">unknown</span>`}</td><td>${
          d.app === undefined ? html`<span class="muted">unknown</span>` : d.app === '' ? 'idle' : d.app
        }</td><td>${
          d.specs.length === 0
            ? html`<span class="muted">none</span>`
            : html`<ul class="plain">${d.specs.map(
                (s) => html`<li><a href="${u(ctx, `/specs/${enc(s.name)}`)}">${s.name}</a> ${badge(s.phase)}${s.casting ? html` <strong class="tag">casting</strong>` : ''}</li>`,
              )}</ul>`
        }</td><td>${d.discovered ? 'seen' : html`<span class="muted">not seen</span>`}</td></tr>`,
      )}</tbody></table>`)
}`,
  });
}

// ── sign-in and errors ─────────────────────────────────────────────────────────────────────

export function loginPage(ctx: ViewContext, o: { next: string; error?: string }): Html {
  return page(ctx, {
    title: 'Sign in',
    body: html`<h1>Sign in</h1>
<section class="panel narrow">
<p>Actions${ctx.tokenSet ? ', and viewing from beyond this machine,' : ''} need the API token. <code>pagecast run</code> keeps it in <code>&lt;state-dir&gt;/api-token</code>. It is asked once; the browser then holds a session cookie.</p>
${o.error ? html`<p class="msg msg-error" role="alert">${o.error}</p>` : ''}
<form method="post" action="${u(ctx, '/login')}">
<input type="hidden" name="next" value="${o.next}">
<label>API token <input name="token" type="password" required autocomplete="off" autofocus></label>
<button type="submit">Sign in</button>
</form>
</section>`,
  });
}

export function errorPage(ctx: ViewContext, status: number, message: string): Html {
  return page(ctx, { title: `${status}`, body: html`<h1>${status}</h1><p>${message}</p><p><a href="${u(ctx, '/')}">Overview</a></p>` });
}
