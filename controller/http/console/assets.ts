// What the console's pages load: its own stylesheet and script (here, so the compiled package
// carries them without a copy step), and htmx, its SSE extension and hls.js from the installed
// packages (never a CDN). Each is read once, kept gzipped too, and revalidated by ETag.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { gzipSync } from 'node:zlib';

export const ASSET_URLS = {
  css: '/assets/console.css',
  js: '/assets/console.js',
  htmx: '/assets/htmx.min.js',
  sse: '/assets/htmx-sse.min.js',
  hls: '/assets/hls.light.min.js',
} as const;

export interface Asset {
  type: string;
  body: Buffer;
  gzip: Buffer;
  etag: string;
}

const CSS = String.raw`
:root {
  --bg: #f6f7f9; --panel: #fff; --text: #1b1f24; --muted: #555d66; --line: #d5d9de; --link: #0b57b0;
  --ok-bg: #d8f3dc; --ok-fg: #0f5132; --busy-bg: #fff0c2; --busy-fg: #664d03; --rest-bg: #dbe9ff; --rest-fg: #0a3a7a;
  --bad-bg: #f8d7da; --bad-fg: #842029; --idle-bg: #e6e8eb; --idle-fg: #343a40;
  --tl-playing: #2b9348; --tl-recovering: #e0a800; --tl-parked: #5b8def; --tl-stopped: #c5cad1;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif; font-size: 16px; line-height: 1.45;
  color-scheme: light dark;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #14171b; --panel: #1d2126; --text: #e8eaed; --muted: #a9b0b8; --line: #343a41; --link: #8ab4f8;
    --ok-bg: #12381f; --ok-fg: #b7f0c5; --busy-bg: #3d3005; --busy-fg: #ffe28a; --rest-bg: #16294a; --rest-fg: #c6dbff;
    --bad-bg: #4a1419; --bad-fg: #ffc9cf; --idle-bg: #2c3238; --idle-fg: #dde1e5; --tl-stopped: #4a5058;
  }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--text); }
a { color: var(--link); }
code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 0.9em; }
code { overflow-wrap: anywhere; }
.skip { position: absolute; left: -999px; top: 0; background: var(--panel); padding: 0.5rem; }
.skip:focus { left: 0.5rem; z-index: 10; }
.top { display: flex; flex-wrap: wrap; align-items: center; gap: 0.5rem 1.25rem; padding: 0.6rem 1rem; background: var(--panel); border-bottom: 1px solid var(--line); }
.brand { font-weight: 700; text-decoration: none; color: var(--text); font-size: 1.1rem; }
.top nav { display: flex; gap: 1rem; }
.top nav a[aria-current="page"] { font-weight: 700; text-decoration-thickness: 2px; }
.who { margin-left: auto; color: var(--muted); }
main { padding: 1rem; max-width: 1400px; margin: 0 auto; }
h1 { font-size: 1.5rem; margin: 0.25rem 0 0.75rem; overflow-wrap: anywhere; }
h2 { font-size: 1.1rem; margin: 0 0 0.5rem; }
.muted { color: var(--muted); }
.counts { font-size: 1.05rem; margin: 0 0 1rem; }
.count { font-weight: 600; }
.cards { list-style: none; padding: 0; margin: 0; display: grid; gap: 1rem; grid-template-columns: repeat(auto-fill, minmax(min(100%, 320px), 1fr)); }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; overflow: hidden; height: 100%; }
.thumb { display: block; width: 100%; height: auto; aspect-ratio: 16 / 9; object-fit: cover; background: #000; }
.thumb.none { display: flex; align-items: center; justify-content: center; color: #d0d4d9; }
.thumb.missing { visibility: hidden; }
.card-body { padding: 0.75rem; }
.card-title { display: flex; flex-wrap: wrap; gap: 0.5rem; align-items: center; margin: 0 0 0.25rem; overflow-wrap: anywhere; }
.device { margin: 0 0 0.5rem; color: var(--muted); overflow-wrap: anywhere; }
.badge, .tag { display: inline-block; border-radius: 999px; padding: 0.05rem 0.6rem; font-size: 0.85rem; font-weight: 600; }
.tag { background: var(--idle-bg); color: var(--idle-fg); font-weight: 500; }
.tone-ok { background: var(--ok-bg); color: var(--ok-fg); }
.tone-busy { background: var(--busy-bg); color: var(--busy-fg); }
.tone-rest { background: var(--rest-bg); color: var(--rest-fg); }
.tone-bad { background: var(--bad-bg); color: var(--bad-fg); }
.tone-idle { background: var(--idle-bg); color: var(--idle-fg); }
.count.tone-ok, .count.tone-busy, .count.tone-rest, .count.tone-bad, .count.tone-idle { padding: 0 0.35rem; border-radius: 4px; }
.problem { background: var(--bad-bg); color: var(--bad-fg); padding: 0.4rem 0.6rem; border-radius: 6px; margin: 0 0 0.5rem; overflow-wrap: anywhere; }
.note { background: var(--rest-bg); color: var(--rest-fg); padding: 0.4rem 0.6rem; border-radius: 6px; margin: 0 0 0.5rem; }
.facts { display: grid; grid-template-columns: repeat(auto-fill, minmax(9rem, 1fr)); gap: 0.4rem 1rem; margin: 0 0 0.5rem; }
.facts div { min-width: 0; }
.facts dt { font-size: 0.8rem; color: var(--muted); }
.facts dd { margin: 0; overflow-wrap: anywhere; }
.timeline { margin: 0.25rem 0 0; }
.timeline svg { display: block; width: 100%; height: 12px; border-radius: 3px; background: var(--tl-stopped); }
.tl-playing { fill: var(--tl-playing); } .tl-recovering { fill: var(--tl-recovering); } .tl-parked { fill: var(--tl-parked); } .tl-stopped { fill: var(--tl-stopped); }
.tl-legend { display: flex; justify-content: space-between; gap: 0.5rem; font-size: 0.75rem; color: var(--muted); }
.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 0.75rem; margin: 1rem 0; }
.panel.narrow { max-width: 34rem; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; width: 100%; font-size: 0.9rem; }
th, td { text-align: left; vertical-align: top; padding: 0.3rem 0.5rem; border-bottom: 1px solid var(--line); }
thead th { font-size: 0.8rem; color: var(--muted); }
tr.cond-bad th, tr.cond-bad td:nth-child(2) { color: var(--bad-fg); }
.actions, .pages { display: flex; flex-wrap: wrap; gap: 0.5rem; margin: 0.75rem 0 0; }
.actions form { margin: 0; }
button { font: inherit; padding: 0.35rem 0.8rem; border-radius: 6px; border: 1px solid var(--line); background: var(--bg); color: var(--text); cursor: pointer; min-height: 2.25rem; }
button:hover { border-color: var(--link); }
button[aria-current="true"] { background: var(--ok-bg); color: var(--ok-fg); font-weight: 600; }
button.out { opacity: 0.8; }
button.link { border: 0; background: none; color: var(--link); text-decoration: underline; padding: 0; min-height: 0; }
.htmx-request button, button.htmx-request { opacity: 0.7; }
form.who { margin-left: auto; }
label { display: flex; flex-direction: column; gap: 0.15rem; font-size: 0.9rem; }
input { font: inherit; padding: 0.35rem 0.5rem; border: 1px solid var(--muted); border-radius: 6px; background: var(--panel); color: var(--text); min-width: 0; }
.cast-form { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(100%, 14rem), 1fr)); gap: 0.6rem; align-items: end; }
.panel.narrow form { display: grid; gap: 0.6rem; }
.msg { padding: 0.4rem 0.6rem; border-radius: 6px; margin: 0.5rem 0 0; }
.msg-ok { background: var(--ok-bg); color: var(--ok-fg); }
.msg-error { background: var(--bad-bg); color: var(--bad-fg); }
.flash:empty { display: none; }
.preview { display: block; width: 100%; max-width: 854px; height: auto; background: #000; aspect-ratio: 16 / 9; }
pre.yaml { margin: 0; padding: 0.5rem 0; line-height: 1.35; }
pre.yaml .ln { display: block; padding-right: 0.5rem; white-space: pre; }
pre.yaml .ln.other { opacity: 0.75; }
pre.yaml .no { display: inline-block; width: 3.5ch; margin-right: 1ch; text-align: right; color: var(--muted); user-select: none; }
pre.yaml .err { background: var(--bad-bg); color: var(--bad-fg); }
pre.yaml .err-msg { font-weight: 700; white-space: pre-wrap; }
ol.log { list-style: none; margin: 0; padding: 0; font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 0.8rem; }
ol.log li { padding: 0.1rem 0; border-bottom: 1px solid var(--line); overflow-wrap: anywhere; }
ol.log .lv { font-weight: 700; }
ol.log .lv-warn .lv { color: var(--busy-fg); } ol.log .lv-error .lv, ol.log .lv-fatal .lv { color: var(--bad-fg); }
ol.log .fields { color: var(--muted); }
ol.drifts { margin: 0; padding-left: 1.5rem; }
ul.plain { list-style: none; padding: 0; margin: 0; }
.crumbs { font-size: 0.9rem; margin-bottom: 0.25rem; }
.empty { color: var(--muted); }
.spec-grid { display: grid; gap: 0 1rem; grid-template-columns: minmax(0, 1fr); }
@media (min-width: 1100px) { .spec-grid { grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); } }
.panel.first { margin-top: 0; }
select { font: inherit; padding: 0.35rem 0.5rem; border: 1px solid var(--muted); border-radius: 6px; background: var(--panel); color: var(--text); }
.phase-line { margin: 0 0 0.5rem; display: flex; flex-wrap: wrap; gap: 0.4rem; align-items: center; }
@media (max-width: 480px) { main { padding: 0.6rem; } .top { padding: 0.5rem 0.6rem; } }
`;

const JS = String.raw`// pagecast console: times as "12 s ago", thumbnails refreshed while the page is seen, the live
// preview (hls.js from the installed package). No build step; htmx does the rest.
(function () {
  'use strict';
  function ago(ms) {
    var s = Math.round(ms / 1000);
    var future = s < 0;
    s = Math.abs(s);
    var text = s < 60 ? s + ' s' : s < 3600 ? Math.round(s / 60) + ' min' : s < 172800 ? Math.round(s / 3600) + ' h' : Math.round(s / 86400) + ' d';
    return future ? 'in ' + text : text + ' ago';
  }
  function tick() {
    var els = document.querySelectorAll('time[data-ago]');
    for (var i = 0; i < els.length; i++) {
      var t = Date.parse(els[i].getAttribute('datetime'));
      if (isNaN(t)) continue;
      els[i].textContent = ago(Date.now() - t);
      els[i].title = new Date(t).toLocaleString();
    }
  }
  function refreshThumbs() {
    if (document.visibilityState !== 'visible') return;
    var imgs = document.querySelectorAll('img[data-refresh]');
    var bucket = String(Math.floor(Date.now() / 5000));
    for (var i = 0; i < imgs.length; i++) {
      var u = new URL(imgs[i].src, location.href);
      if (u.searchParams.get('t') === bucket) continue;
      u.searchParams.set('t', bucket);
      imgs[i].src = u.pathname + u.search;
    }
  }
  document.addEventListener('error', function (e) {
    var el = e.target;
    if (el && el.matches && el.matches('img[data-refresh]')) el.classList.add('missing');
  }, true);
  document.addEventListener('load', function (e) {
    var el = e.target;
    if (el && el.matches && el.matches('img[data-refresh]')) el.classList.remove('missing');
  }, true);
  function say(text) {
    var el = document.getElementById('preview-state');
    if (el) el.textContent = text;
  }
  function startPreview() {
    var v = document.getElementById('preview');
    if (!v || v.dataset.started) return;
    v.dataset.started = '1';
    var src = v.dataset.src;
    if (window.Hls && window.Hls.isSupported()) {
      var hls = new window.Hls({ liveSyncDurationCount: 3 });
      hls.on(window.Hls.Events.MANIFEST_PARSED, function () { v.play().catch(function () {}); });
      hls.on(window.Hls.Events.ERROR, function (_e, d) {
        if (!d.fatal) return;
        say('Preview interrupted (' + d.details + '); retrying.');
        if (d.type === window.Hls.ErrorTypes.MEDIA_ERROR) hls.recoverMediaError();
        else setTimeout(function () { hls.loadSource(src); hls.startLoad(); }, 2000);
      });
      v.addEventListener('playing', function () { say(''); });
      hls.loadSource(src);
      hls.attachMedia(v);
    } else if (v.canPlayType('application/vnd.apple.mpegurl')) {
      v.src = src;
      v.play().catch(function () {});
    } else {
      say('This browser cannot play the preview.');
    }
  }
  function ready() {
    tick();
    startPreview();
    setInterval(tick, 5000);
    setInterval(refreshThumbs, 5000);
    document.addEventListener('visibilitychange', refreshThumbs);
    document.body.addEventListener('htmx:afterSwap', tick);
    document.body.addEventListener('htmx:sseMessage', tick);
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', ready);
  else ready();
})();
`;

function asset(type: string, body: Buffer): Asset {
  return { type, body, gzip: gzipSync(body, { level: 9 }), etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` };
}

const require = createRequire(import.meta.url);
const FROM_PACKAGES: Record<string, string> = {
  [ASSET_URLS.htmx]: 'htmx.org/dist/htmx.min.js',
  [ASSET_URLS.sse]: 'htmx-ext-sse/dist/sse.min.js',
  [ASSET_URLS.hls]: 'hls.js/dist/hls.light.min.js',
};

/** The assets by URL path, each made on its first request. */
export class Assets {
  private readonly made = new Map<string, Asset>();

  get(path: string): Asset | undefined {
    const known = this.made.get(path);
    if (known) return known;
    let a: Asset | undefined;
    if (path === ASSET_URLS.css) a = asset('text/css; charset=utf-8', Buffer.from(CSS));
    else if (path === ASSET_URLS.js) a = asset('text/javascript; charset=utf-8', Buffer.from(JS));
    else if (FROM_PACKAGES[path]) a = asset('text/javascript; charset=utf-8', readFileSync(require.resolve(FROM_PACKAGES[path])));
    if (a) this.made.set(path, a);
    return a;
  }
}
