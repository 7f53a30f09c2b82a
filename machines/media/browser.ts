// BrowserDriver: the system Chromium driven by playwright-core, headful on the stream's Xvfb,
// kiosk at exactly the stream size, with a fresh profile per start. Each page of the spec has a
// window of its own, opened, loaded and painted off screen (page-windows.ts); the page on screen
// is the one whose window was last revealed, and a rotation reveals the next one when its turn
// comes (rotation-plan.ts), so a switch is one X request and the TV never sees a page load.
// Navigation failures at start are retried with backoff and reported; later a page that fails
// is passed over and loaded again on its turn. A crash, a disconnect or a hung renderer on screen
// settles `exited`. Past `browser.maxMemory`, or every `browser.restartEvery`, the handle
// replaces its Chromium with a new one on the same display (see `renew` below); the machines see
// the same handle.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { lstat, readdir, readlink, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { PagecastError } from '../errors.js';
import { componentLogger } from '../log.js';
import { DEFAULT_STOP, processStartTime, readStat, type ProcessRegistry } from '../processes/registry.js';
import { RepeatedWarning } from '../repeated-warning.js';
import type { BrowserDriver, BrowserHandle, ExitInfo, RotationState, ShowPageResult, StartContext, StreamInput } from '../components.js';
import { pageRenderKey, pagesOf, type PageInput } from '../../specs/identity.js';
import { pagesInRotation } from '../../specs/rotation.js';
import type { BrowserOptions } from '../../specs/schema.js';
import { describeCause, groupMemory, groupMemoryAgainst, renewalDue, type RenewCause } from './browser-memory.js';
import { openPageWindows, openWindow, putAway, reveal, slotOf, type PageWindow } from './page-windows.js';
import { firstPage, loadOrder, nextLookAt, nextStep, turnBase as turnBaseAfter, type PageLoadState } from './rotation-plan.js';
import { hassTokens, originHeaders, originOf } from './page-login.js';
import { loginSecret } from '../../specs/resolve.js';
import { X11Connection } from './x11.js';
import { chromiumHostArgs, readChromiumHost } from './chromium-host.js';

export const CHROMIUM_PATHS = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/lib/chromium/chromium', '/usr/bin/google-chrome'];

export interface ChromiumBrowserOptions {
  registry: ProcessRegistry;
  executablePath?: string;
  /** Where fresh profiles are made (removed on stop). */
  profileRoot?: string;
  backoff?: { initialMs: number; maxMs: number }; // 1 s … 30 s
  /** Renderer liveness: `page.evaluate(() => 1)` every `intervalMs`, hung after `timeoutMs`. */
  health?: { intervalMs: number; timeoutMs: number }; // 5 s, 10 s
  launchTimeoutMs?: number; // 30 s
  /**
   * How often memory (and `restartEvery`) is checked, and the least time between two renewals
   * for memory: a page over the limit right after it loads is not renewed in a loop.
   */
  renewal?: { checkIntervalMs: number; minIntervalMs: number }; // 20 s, 10 min
}

/** The handle this driver returns: the BrowserHandle plus what tests and figures read. */
export interface ChromiumBrowserHandle extends BrowserHandle {
  /** Bytes held by the current Chromium's processes (PSS), read now. */
  memoryBytes(): number | undefined;
  /** The current Chromium's browser process. */
  readonly pid: number | undefined;
  readonly renewals: number;
  rotation(): RotationState | undefined;
  showPage(index: number): ShowPageResult;
  updatePages(input: StreamInput): Promise<void>;
  reloadPages(): void;
  alignSwitches(segmentEnd: (after: number) => number | undefined): void;
}

/**
 * Chromium flags for a kiosk on a closed network (no Google traffic, no first-run UI). `x`, `y`
 * place the first window: beyond the screen's edge, out of the captured area, until revealed.
 */
export function chromiumArgs(width: number, height: number, root: boolean, x = 0, y = 0): string[] {
  return [
    '--kiosk',
    '--start-fullscreen',
    `--window-position=${x},${y}`,
    `--window-size=${width},${height}`,
    '--hide-scrollbars',
    '--disable-background-networking',
    '--disable-component-update',
    '--no-first-run',
    '--disable-sync',
    '--disable-features=Translate,MediaRouter',
    '--no-default-browser-check',
    '--disable-quic',
    '--autoplay-policy=no-user-gesture-required',
    '--disable-infobars',
    '--noerrdialogs',
    '--disable-session-crashed-bubble',
    ...(root ? ['--no-sandbox'] : []),
  ];
}

/** CSS every document gets: no scrollbars, the spec's zoom, the spec's extra CSS. */
export function pageCss(zoom: number, css: string | undefined): string {
  const parts = ['::-webkit-scrollbar { display: none !important; }', 'html { scrollbar-width: none !important; }'];
  if (zoom !== 1) parts.push(`html { zoom: ${zoom} !important; }`);
  if (css) parts.push(css);
  return parts.join('\n');
}

/** Exponential backoff for attempt n (0-based). */
export function backoffMs(n: number, initialMs: number, maxMs: number): number {
  return Math.min(maxMs, initialMs * 2 ** Math.min(n, 30));
}

/** A short reason for a failed navigation: `HTTP 503` or the network error name. */
export function navigationFailure(err: unknown, status?: number): string {
  if (status !== undefined) return `HTTP ${status}`;
  const msg = err instanceof Error ? err.message : String(err);
  const net = /net::[A-Z_]+/.exec(msg);
  if (net) return net[0];
  if (/Timeout \d+ms exceeded/i.test(msg)) return 'timeout';
  return msg.split('\n')[0]!.slice(0, 200);
}

export function findChromium(candidates = CHROMIUM_PATHS): string | undefined {
  return candidates.find((p) => existsSync(p));
}

/** The pid of our child whose command line names `marker` (the profile dir), scanning /proc. */
function findChildByMarker(marker: string): number | undefined {
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const status = readFileSync(`/proc/${e}/status`, 'utf8');
      if (!new RegExp(`^PPid:\\s+${process.pid}$`, 'm').test(status)) continue;
      if (readFileSync(`/proc/${e}/cmdline`, 'utf8').includes(marker)) return Number(e);
    } catch {
      // raced with an exit
    }
  }
  return undefined;
}

const PROFILE_PREFIX = 'pagecast-profile-';
/** Chromium's own TMPDIR (its singleton socket), one per start, in the system temp directory. */
export const CHROMIUM_TMP_PREFIX = 'pc-chromium-';

/**
 * The prefix of a profile (or, with CHROMIUM_TMP_PREFIX, a Chromium temp directory) made by this
 * process: its pid and start time name the owner, so that a later start can tell what a run that
 * died left from what a live controller uses.
 */
export function ownedProfilePrefix(prefix = PROFILE_PREFIX): string {
  return `${prefix}${process.pid}-${processStartTime(process.pid) ?? 0}-`;
}

/** The pid in Chromium's SingletonLock (a symlink to `<hostname>-<pid>`), when it is this host's. */
async function profileLockPid(dir: string): Promise<number | undefined> {
  try {
    const m = /^(.*)-(\d+)$/.exec(await readlink(join(dir, 'SingletonLock')));
    return m && m[1] === hostname() ? Number(m[2]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Removes the Chromium profiles under `root` that no live process uses: the owner named in the
 * directory (controller pid and start time) is gone, and no live Chromium holds its SingletonLock.
 * Profiles of older versions (no owner in the name) go once unlocked and a minute old. Chromium
 * writes hundreds of MB there over a day; a run that dies leaves its profile behind.
 */
export async function removeStaleProfiles(root: string, opts: { now?: number; prefix?: string } = {}): Promise<string[]> {
  const prefix = opts.prefix ?? PROFILE_PREFIX;
  const ownerName = new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&')}(\\d+)-(\\d+)-`);
  let names: string[];
  try {
    names = await readdir(root);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const dir = join(root, name);
    try {
      const st = await lstat(dir);
      if (!st.isDirectory()) continue;
      const owner = ownerName.exec(name);
      if (owner) {
        const start = processStartTime(Number(owner[1]));
        if (start !== undefined && start === Number(owner[2])) continue; // its controller runs
      } else if ((opts.now ?? Date.now()) - st.mtimeMs < 60_000) continue; // an older version's, maybe just made
      const lockPid = await profileLockPid(dir);
      if (lockPid !== undefined && processStartTime(lockPid) !== undefined) continue; // a Chromium still uses it
      await rm(dir, { recursive: true, force: true });
      removed.push(dir);
    } catch {
      // gone meanwhile, or not ours to remove: the next start tries again
    }
  }
  return removed;
}

/** A turn's end moves to the segment boundary within this much of it (half a 2 s segment)… */
const SWITCH_ALIGN_WINDOW_MS = 1000;
/** …and the switch comes this long before the boundary: capture, reveal and repaint fit in it. */
const SWITCH_BEFORE_BOUNDARY_MS = 250;

/** One page of a rotation in one Chromium: its tab and window, and whether it can be shown. */
interface PageSlot {
  index: number;
  input: PageInput;
  tab: Page;
  xid: number;
  slot: { x: number; y: number };
  state: PageLoadState;
  error?: string;
  /** A reload came due while it showed: done once it is off screen. */
  reloadDue: boolean;
  loading?: Promise<void>;
}

/** One Chromium: its profile, its persistent context and a window per page. */
interface Instance {
  profile: string;
  chromiumTmp: string;
  context?: BrowserContext;
  pages: PageSlot[];
  pid?: number;
  pgid?: number;
  /** Which off-screen column its windows wait in (a replacement uses the other one). */
  column: number;
  /** We close it: its going is no exit. */
  closing: boolean;
}

/** Resolves after the page has produced two animation frames: what it shows is painted. */
async function painted(page: Page, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      page.evaluate(() => new Promise<void>((r) => requestAnimationFrame(() => requestAnimationFrame(() => r())))),
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`the page did not paint within ${timeoutMs} ms`)), timeoutMs))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Adds the page's CSS (no scrollbars, zoom, the spec's css) to every document of a tab. */
async function addPageCss(tab: Page, css: string): Promise<void> {
  await tab.addInitScript((text: string) => {
    const add = () => {
      const s = document.createElement('style');
      s.setAttribute('data-pagecast', '');
      s.textContent = text;
      (document.head ?? document.documentElement).appendChild(s);
    };
    if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', add, { once: true });
    else add();
  }, css);
}

/**
 * A page's headers and login, for its own origin only: requests to other hosts the page loads
 * (fonts, maps, analytics) carry none of them. Home Assistant's tokens go into localStorage
 * before the frontend's scripts run, on the page's origin only.
 */
async function addLogin(tab: Page, input: PageInput): Promise<void> {
  const origin = originOf(input.url);
  if (!origin) return;
  const headers = originHeaders(input.browser);
  if (Object.keys(headers).length > 0) {
    await tab.route(
      (u) => u.origin === origin,
      (route) => route.continue({ headers: { ...route.request().headers(), ...headers } }).catch(() => {}),
    );
  }
  const secret = loginSecret(input.browser.login);
  if (secret?.kind === 'homeAssistant') {
    await tab.addInitScript(
      ({ origin, tokens }: { origin: string; tokens: string }) => {
        if (location.origin === origin) localStorage.setItem('hassTokens', tokens);
      },
      { origin, tokens: hassTokens(origin, secret.token, Date.now()) },
    );
  }
}

export class ChromiumBrowserDriver implements BrowserDriver {
  /** Profiles of runs that died are removed once, before the first profile of this run is made. */
  private staleProfilesRemoved?: Promise<string[]>;

  constructor(private readonly opts: ChromiumBrowserOptions) {}

  async start(o: { display: string; input: StreamInput }, ctx: StartContext): Promise<ChromiumBrowserHandle> {
    if (ctx.signal.aborted) throw new PagecastError('ABORTED', 'browser start aborted');
    const log = componentLogger(ctx.log, 'browser');
    const executablePath = this.opts.executablePath ?? findChromium();
    if (!executablePath) throw new PagecastError('CONFIG', `no Chromium found (looked at ${CHROMIUM_PATHS.join(', ')}); set its path`);
    const size = { width: o.input.quality.width, height: o.input.quality.height };
    const b = o.input.browser;
    let inputs = pagesOf(o.input);
    let timezone = o.input.timezone ?? 'UTC';
    const rotating = () => inputs.length > 1;
    const profileRoot = this.opts.profileRoot ?? tmpdir();
    // Chromium's temp directories of runs that died go with their profiles.
    this.staleProfilesRemoved ??= Promise.all([removeStaleProfiles(profileRoot), removeStaleProfiles(tmpdir(), { prefix: CHROMIUM_TMP_PREFIX })]).then((lists) => {
      const removed = lists.flat();
      if (removed.length > 0) log.info({ removed }, 'removed Chromium profiles and temp directories of runs that died');
      return removed;
    });
    await this.staleProfilesRemoved;
    if (ctx.signal.aborted) throw new PagecastError('ABORTED', 'browser start aborted');
    const backoff = this.opts.backoff ?? { initialMs: 1000, maxMs: 30_000 };
    const health = this.opts.health ?? { intervalMs: 5000, timeoutMs: 10_000 };
    const renewal = this.opts.renewal ?? { checkIntervalMs: 20_000, minIntervalMs: 10 * 60_000 };
    const navigationWarning = new RepeatedWarning(log, 'navigation failed');
    const x11 = await X11Connection.open(o.display);

    let current: Instance | undefined; // the Chromium on screen; `exited` follows it
    let replacement: Instance | undefined; // one being made ready, off screen
    let stopping = false;
    let settle: (e: ExitInfo) => void = () => {};
    const exited = new Promise<ExitInfo>((r) => (settle = r));
    let settled = false;
    const timers: NodeJS.Timeout[] = [];
    let turnTimer: NodeJS.Timeout | undefined;
    const finish = (e: ExitInfo) => {
      if (settled) return;
      settled = true;
      for (const t of timers) clearInterval(t);
      clearTimeout(turnTimer);
      x11.close();
      if (e.reason !== 'stopped') {
        log.warn({ exit: e }, 'browser gone');
        ctx.report({ type: 'BrowserReady', status: 'False', reason: e.reason === 'hung' ? 'Hung' : e.reason === 'crashed' ? 'Crashed' : 'Exited', message: e.message ?? e.reason });
      }
      settle(e);
    };
    const over = (inst?: Instance) => stopping || settled || (inst?.closing ?? false);

    // ── the rotation: which page is on screen, since when ──────────────────────────────────
    let showing: number | undefined;
    let since = 0;
    /** When the turn on screen began by the rotation's own clock, before any alignment to segments. */
    let turnBase = 0;
    // 0-based, as status, the API and `pagecast page` number pages.
    const label = (i: number) => `page ${i} (of 0–${inputs.length - 1})`;
    const view = (inst: Instance, on?: number) => ({ pages: inputs, timezone, states: inst.pages.map((p) => p.state), showing: on });

    /** A Chromium went without our asking: the end of the handle if it is the one on screen. */
    const gone = (inst: Instance, e: ExitInfo) => {
      if (inst.closing) return;
      if (inst === current) finish(e);
      else inst.closing = true; // a replacement that died: `renew` notices and gives up
    };

    const close = async (inst: Instance) => {
      inst.closing = true;
      if (inst.context) await Promise.race([inst.context.close().catch(() => {}), new Promise((r) => setTimeout(r, 5000))]);
      if (inst.pid !== undefined) await this.opts.registry.stop(inst.pid, DEFAULT_STOP);
      rmSync(inst.profile, { recursive: true, force: true });
      rmSync(inst.chromiumTmp, { recursive: true, force: true });
    };

    /** A Chromium with a window per page, every window off screen in its slot, nothing loaded. */
    const launch = async (column: number): Promise<Instance> => {
      const inst: Instance = {
        profile: mkdtempSync(join(profileRoot, ownedProfilePrefix())),
        // Chromium's single-instance socket goes in TMPDIR and outlives a killed Chromium: give each
        // browser its own, short (a Unix socket path has at most 107 bytes), removed with the profile.
        chromiumTmp: mkdtempSync(join(tmpdir(), ownedProfilePrefix(CHROMIUM_TMP_PREFIX))),
        pages: [],
        column,
        closing: false,
      };
      try {
        const first = slotOf(size, column, 0);
        inst.context = await chromium.launchPersistentContext(inst.profile, {
          executablePath,
          headless: false,
          // The owner token marks Chromium's helpers as ours for the reaper.
          env: { ...process.env, DISPLAY: o.display, TMPDIR: inst.chromiumTmp, ...this.opts.registry.childEnv() },
          // Playwright's own temp directory too (by default a playwright-artifacts-* in /tmp, which a
          // controller killed with SIGKILL leaves behind): it goes with the browser's, dead runs' too.
          artifactsDir: inst.chromiumTmp,
          // Plus what a container needs: a small /dev/shm, no sandbox when asked (chromium-host.ts).
          args: [...chromiumArgs(size.width, size.height, process.getuid?.() === 0, first.x, first.y), ...chromiumHostArgs(readChromiumHost())],
          ignoreDefaultArgs: ['--enable-automation'],
          // No viewport emulation: Playwright would resize the window to fit it and so leave kiosk
          // fullscreen (there is no window manager). Kiosk on a W×H screen makes the page W×H at DPR 1.
          viewport: null,
          timeout: this.opts.launchTimeoutMs ?? 30_000,
          ...(b.userAgent ? { userAgent: b.userAgent } : {}),
          ...(b.colorScheme ? { colorScheme: b.colorScheme } : {}),
        });
        inst.pid = findChildByMarker(inst.profile);
        if (inst.pid === undefined) throw new Error('could not find the Chromium process');
        // Playwright starts the browser as the leader of its own process group.
        inst.pgid = readStat(inst.pid)?.pgid ?? inst.pid;
        this.opts.registry.register({ pid: inst.pid, pgid: inst.pgid, name: 'chromium', startTime: processStartTime(inst.pid) ?? 0 });
        inst.context.on('close', () => gone(inst, { reason: 'disconnected', message: 'the browser closed or disconnected' }));
        // Cookies are the browser's: every page's storage state goes into its one jar.
        for (const state of new Set(inputs.map((p) => p.browser.storageState).filter((s) => s !== undefined))) await inst.context.setStorageState(state);
        const first0 = inst.context.pages()[0] ?? (await inst.context.newPage());
        const windows = await openPageWindows({ context: inst.context, first: first0, count: inputs.length, x: x11, pid: inst.pid, size, column });
        // Every window at the screen's exact size while it is still off screen, before its page
        // loads: Chromium's startup window comes up a pixel short in kiosk mode without a window
        // manager (639×359 on a 640×360 screen), and a window that is resized as it is revealed
        // renders again at the new size, white for a frame or three on a busy machine (seen in a
        // browser replacement, where the capture is running).
        for (const [i, w] of windows.entries()) await x11.configure(w.xid, { ...slotOf(size, column, i), width: size.width, height: size.height });
        await x11.sync();
        for (const [i, w] of windows.entries()) inst.pages.push(await pageSlot(inst, i, inputs[i]!, w, slotOf(size, column, i)));
        return inst;
      } catch (err) {
        await close(inst);
        throw err;
      }
    };

    /** A page's window set up for its page: CSS, headers, and what a crash of it means. */
    const pageSlot = async (inst: Instance, index: number, input: PageInput, w: PageWindow, slot: { x: number; y: number }): Promise<PageSlot> => {
      const p: PageSlot = { index, input, tab: w.tab, xid: w.xid, slot, state: 'loading', reloadDue: false };
      w.tab.setDefaultNavigationTimeout(b.navigationTimeout);
      await addPageCss(w.tab, pageCss(input.browser.zoom, input.browser.css));
      await addLogin(w.tab, input);
      w.tab.on('crash', () => pageCrashed(inst, p));
      return p;
    };

    /** One attempt to load a page; its state says how it went. */
    const load = async (inst: Instance, p: PageSlot, how: 'goto' | 'reload'): Promise<void> => {
      // A failed page tried again on its turn stays failed, with its error, until it loads: status
      // (and the console, MQTT) must not flicker to loading and back each turn, hiding the error.
      if (p.state !== 'failed') p.state = 'loading';
      try {
        const res = how === 'goto' ? await p.tab.goto(p.input.url, { waitUntil: 'load' }) : await p.tab.reload({ waitUntil: 'load' });
        if (res && res.status() >= 400) throw Object.assign(new Error(`HTTP ${res.status()}`), { status: res.status() });
        await this.waitReady(p.tab, p.input.browser);
        await painted(p.tab, health.timeoutMs);
        if (over(inst)) return;
        p.state = 'ready';
        if (rotating() && p.error !== undefined && inst === current) ctx.report({ type: 'PageReady', status: 'True', reason: 'Loaded', message: `${label(p.index)} loaded again` });
        p.error = undefined;
      } catch (err) {
        if (over(inst)) return;
        p.state = 'failed';
        p.error = navigationFailure(err, (err as { status?: number }).status);
        if (rotating() && inst === current) ctx.report({ type: 'PageReady', status: 'False', reason: 'NavigationFailed', message: `${label(p.index)}: ${p.error}` });
      }
    };
    /** Loads a page in the background once at a time; a load already under way is joined. */
    const loadInBackground = (inst: Instance, p: PageSlot, how: 'goto' | 'reload') => {
      p.loading ??= load(inst, p, how).finally(() => (p.loading = undefined));
      return p.loading;
    };

    /**
     * Loads every page of a new Chromium, the rotation's first: until one can be shown, with
     * retries and backoff (a dashboard that is down at start is waited for, as ever); the
     * rest in the background. Resolves with the page to show first.
     */
    const loadFirst = async (inst: Instance): Promise<number> => {
      for (let attempt = 0; ; attempt++) {
        for (const i of loadOrder(inputs, timezone, new Date())) {
          if (over(inst)) throw new PagecastError('ABORTED', 'browser start aborted');
          if (inst.pages[i]!.state === 'ready') continue;
          await load(inst, inst.pages[i]!, 'goto');
          const first = firstPage(view(inst), new Date());
          if (first !== undefined) {
            if (attempt > 0) navigationWarning.recovered('page loaded again');
            for (const p of inst.pages) if (p.state !== 'ready') void loadInBackground(inst, p, 'goto');
            return first;
          }
        }
        const wait = backoffMs(attempt, backoff.initialMs, backoff.maxMs);
        const message = inst.pages.map((p) => (rotating() ? `${label(p.index)}: ${p.error}` : p.error)).join('; ');
        navigationWarning.failed(wait, { message });
        ctx.report({ type: 'BrowserReady', status: 'False', reason: 'NavigationFailed', message });
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, wait);
          ctx.signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
        });
      }
    };

    /** Switches and page changes, one at a time. */
    let switching: Promise<void> = Promise.resolve();
    /** Brings page `i` of the current Chromium to the front and starts its turn. */
    const showNow = async (i: number, reason: 'First' | 'Rotated' | 'Jumped' | 'Replaced', ideal?: number) => {
      const inst = current!;
      if (over(inst)) return;
      // Asked for before the pages changed: the page may be another one now, or not loaded.
      if (inst.pages[i]?.state !== 'ready') return planTurn();
      const before = showing;
      await reveal(x11, inst.pages[i]!.xid, size);
      if (before !== undefined && before !== i && reason !== 'Replaced') {
        const prev = inst.pages[before]!;
        await putAway(x11, prev.xid, prev.slot);
        if (prev.reloadDue) {
          prev.reloadDue = false;
          void loadInBackground(inst, prev, 'reload');
        }
      }
      showing = i;
      since = Date.now();
      turnBase = reason === 'Replaced' ? turnBase : turnBaseAfter(ideal, since);
      if (rotating()) ctx.report({ type: 'PageShown', status: 'True', reason, message: label(i) });
      planTurn();
    };
    const show = (i: number, reason: 'First' | 'Rotated' | 'Jumped' | 'Replaced', ideal?: number): Promise<void> => {
      const run = () => showNow(i, reason, ideal);
      switching = switching.then(run, run).catch((err: unknown) => {
        if (over()) return;
        log.warn({ err }, 'could not switch pages');
        finish({ reason: 'exited', message: `could not bring ${label(i)} to the front: ${(err as Error).message}` });
      });
      return switching;
    };

    /** At the end of a turn (or when a window opens or closes): the next page, if any is ready. */
    const turn = () => {
      const inst = current;
      if (!inst || over(inst) || renewing) return planTurn();
      const ideal = idealAt;
      const step = nextStep(view(inst, showing), new Date());
      for (const i of step.retry) void loadInBackground(inst, inst.pages[i]!, 'goto');
      if (step.show !== undefined) void show(step.show, 'Rotated', ideal);
      else {
        since = Date.now(); // the page on screen stays for another turn
        turnBase = turnBaseAfter(ideal, since);
        planTurn();
      }
    };
    let segmentEnd: ((after: number) => number | undefined) | undefined;
    let nextAt: number | undefined;
    let idealAt: number | undefined;
    const planTurn = () => {
      clearTimeout(turnTimer);
      nextAt = idealAt = undefined;
      if (!rotating() || over()) return;
      const now = Date.now();
      // Turns are counted from where they began by the rotation's clock, so aligning each one to a
      // segment (a little earlier or later) never makes the rotation drift.
      const at = nextLookAt(view(current!, showing), turnBase, new Date(now));
      if (at === undefined) return;
      idealAt = at;
      // The end of a turn moves to just before the segment boundary nearest it: the first frames
      // of the next page then close a segment at once instead of waiting up to a whole segment.
      // A window opening or closing is kept to the minute it names.
      const turnEnd = showing !== undefined && at === turnBase + inputs[showing]!.for;
      const boundary = turnEnd ? segmentEnd?.(at - SWITCH_ALIGN_WINDOW_MS) : undefined;
      nextAt = boundary === undefined ? at : Math.max(now, boundary - SWITCH_BEFORE_BOUNDARY_MS);
      turnTimer = setTimeout(turn, Math.max(0, nextAt - now));
    };

    /** A renderer crashed: a page off screen is loaded again on its turn; the one on screen is replaced by the next. */
    function pageCrashed(inst: Instance, p: PageSlot) {
      if (over(inst)) return;
      p.state = 'failed';
      p.error = 'the page crashed';
      if (inst !== current) return gone(inst, { reason: 'crashed', message: 'the page crashed' });
      ctx.report({ type: 'PageReady', status: 'False', reason: 'Crashed', message: `${label(p.index)}: the page crashed` });
      if (p.index !== showing) return;
      const step = nextStep(view(inst, showing), new Date());
      if (step.show === undefined) return gone(inst, { reason: 'crashed', message: 'the page crashed' });
      void show(step.show, 'Rotated');
    }

    /**
     * A new list of pages, live. A page whose render key (url and browser options) is unchanged
     * keeps its window, loaded, whatever its new place, `for` or windows; the others get new
     * windows, loaded off screen. The page on screen stays until its turn ends, unless it is gone:
     * then the next page shows as soon as one is loaded, and only then does its window close.
     */
    const updatePages = async (next: StreamInput) => {
      const run = async () => {
        const inst = current;
        if (!inst || over(inst)) return;
        const nextInputs = pagesOf(next);
        const unused = new Map<string, PageSlot[]>();
        for (const p of inst.pages) unused.set(pageRenderKey(p.input), [...(unused.get(pageRenderKey(p.input)) ?? []), p]);
        const kept = nextInputs.map((input) => unused.get(pageRenderKey(input))?.shift());
        const used = new Set(kept.filter((p) => p !== undefined).map((p) => `${p.slot.x},${p.slot.y}`));
        const freeSlot = () => {
          for (let k = 0; ; k++) {
            const slot = slotOf(size, inst.column, k);
            if (!used.has(`${slot.x},${slot.y}`)) return used.add(`${slot.x},${slot.y}`), slot;
          }
        };
        const pages: PageSlot[] = [];
        for (const [j, input] of nextInputs.entries()) {
          const reuse = kept[j];
          if (reuse) {
            Object.assign(reuse, { index: j, input });
            pages.push(reuse);
            continue;
          }
          const slot = freeSlot();
          const w = await openWindow({ context: inst.context!, from: (kept.find((p) => p) ?? inst.pages[0]!).tab, x: x11, pid: inst.pid!, size, slot, known: new Set([...inst.pages, ...pages].map((p) => p.xid)) });
          pages.push(await pageSlot(inst, j, input, w, slot));
        }
        if (over(inst)) return;
        const front = showing === undefined ? undefined : inst.pages[showing];
        const removed = [...unused.values()].flat();
        inputs = nextInputs;
        timezone = next.timezone ?? 'UTC';
        inst.pages = pages;
        log.info({ pages: pages.length, kept: kept.filter((p) => p).length, removed: removed.length }, 'pages changed');
        const loads = pages.filter((p) => !kept.includes(p)).map((p) => loadInBackground(inst, p, 'goto'));
        if (front && removed.includes(front)) {
          showing = undefined;
          await Promise.all(loads);
          if (over(inst)) return;
          const first = firstPage(view(inst), new Date()) ?? nextStep(view(inst), new Date()).show;
          if (first !== undefined) await showNow(first, 'Rotated');
        } else if (front) showing = front.index;
        for (const p of removed) await p.tab.close().catch(() => {});
        planTurn();
      };
      switching = switching.then(run, run).catch((err: unknown) => {
        if (over()) return;
        log.warn({ err }, 'could not change the pages');
        finish({ reason: 'exited', message: `could not change the pages: ${(err as Error).message}` });
      });
      return switching;
    };

    const stop = async () => {
      stopping = true;
      for (const t of timers) clearInterval(t);
      clearTimeout(turnTimer);
      await Promise.all([current && close(current), replacement && close(replacement), renewing]);
      finish({ reason: 'stopped' });
    };

    let renewing: Promise<void> | undefined;
    let renewals = 0;
    const startedAt = Date.now();
    let lastRenewedAt: number | undefined;
    let heldSince: number | undefined; // over the limit, but renewed too recently to renew again
    /**
     * Replaces the Chromium without the TV seeing it: the new one opens its windows in the other
     * off-screen column, loads and paints every page there, then the window of the page on screen
     * is revealed over the old one, which is closed beneath it.
     */
    const renew = async (cause: RenewCause) => {
      const why = describeCause(cause);
      log.info({ why }, 'replacing the browser');
      let fresh: Instance | undefined;
      try {
        fresh = replacement = await launch(1 - current!.column);
        if (over(fresh)) throw new PagecastError('ABORTED', 'stopped during the replacement');
        await Promise.all(fresh.pages.map((p) => load(fresh!, p, 'goto')));
        await switching;
        const front = showing ?? 0;
        if (fresh.pages[front]!.state !== 'ready') throw new PagecastError('NAVIGATION_FAILED', fresh.pages[front]!.error ?? 'the page did not load');
        if (over(fresh)) throw new PagecastError('ABORTED', 'stopped during the replacement');
        const old = current!;
        current = fresh;
        replacement = undefined;
        log.debug({ pid: fresh.pid }, 'replacement loaded and painted');
        await show(front, 'Replaced');
        log.debug('replacement on screen, closing the old browser');
        lastRenewedAt = Date.now();
        heldSince = undefined;
        await close(old);
        renewals++;
        ctx.report({ type: 'BrowserReady', status: 'True', reason: 'Renewed', message: `browser replaced (${why})` });
        log.info({ why, pid: fresh.pid, renewals }, 'browser replaced');
      } catch (err) {
        if (fresh && fresh !== current) await close(fresh);
        replacement = undefined;
        if (stopping || settled) return;
        // Not again at once: the old browser stays, and the next try waits out the interval.
        lastRenewedAt = Date.now();
        const message = `could not replace the browser (${why}): ${(err as Error).message.split('\n')[0]}`;
        log.warn({ err }, message);
        ctx.report({ type: 'BrowserReady', status: 'True', reason: 'RenewFailed', message });
      }
    };

    const onAbort = () => void stop();
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    try {
      current = await launch(0);
      if (ctx.signal.aborted || stopping) throw new PagecastError('ABORTED', 'browser start aborted');
      const first = await loadFirst(current);
      if (ctx.signal.aborted || stopping) throw new PagecastError('ABORTED', 'browser start aborted');
      if (settled) throw new PagecastError('PROCESS_FAILED', `browser failed while loading the page: ${(await exited).message}`, { source: 'chromium' });
      // Ready means on screen and painted: the encoder starting next captures the page, not the blank before it.
      await show(first, 'First');
      await painted(current.pages[first]!.tab, health.timeoutMs).catch(() => {}); // a page that never paints is the health check's to find

      let reloads = 0;
      const reloadPages = () => {
        if (renewing || stopping || settled) return;
        reloads++;
        for (const p of current!.pages) {
          // A page on screen is reloaded where it is only when it is the only one; in a rotation, once it is off screen.
          if (rotating() && p.index === showing) p.reloadDue = true;
          else
            void loadInBackground(current!, p, 'reload').then(() => {
              if (!over() && p.state === 'ready') ctx.report({ type: 'BrowserReady', status: 'True', reason: 'Reloaded', message: `reload ${reloads}` });
            });
        }
      };
      if (b.reload !== undefined) timers.push(setInterval(reloadPages, b.reload));
      let probing = false;
      timers.push(
        setInterval(() => {
          const inst = current!;
          if (inst.pid !== undefined && !stopping) {
            const s = readStat(inst.pid);
            if (s === undefined || s.state === 'Z') return gone(inst, { reason: 'exited', message: 'the Chromium process exited' });
          }
          const front = showing === undefined ? undefined : inst.pages[showing];
          if (!front || front.loading || probing || stopping || settled) return;
          probing = true;
          const timer = setTimeout(() => gone(inst, { reason: 'hung', message: `the page did not answer within ${health.timeoutMs} ms` }), health.timeoutMs);
          front.tab
            .evaluate(() => 1)
            .then(() => clearTimeout(timer), () => clearTimeout(timer))
            .finally(() => (probing = false));
        }, health.intervalMs),
      );
      timers.push(
        setInterval(() => {
          if (renewing || stopping || settled || current!.pages.some((p) => p.loading)) return;
          const now = Date.now();
          const memoryBytes = current!.pgid === undefined ? undefined : groupMemoryAgainst(current!.pgid, b.maxMemory);
          const due = renewalDue({ now, memoryBytes, maxMemory: b.maxMemory, restartEvery: b.restartEvery, startedAt, lastRenewedAt, minIntervalMs: renewal.minIntervalMs });
          if (!due) return void (heldSince = undefined);
          if (due.held) {
            if (heldSince !== undefined) return; // said once per stretch
            heldSince = now;
            const message = `${describeCause(due.cause)}, but the browser was replaced ${Math.round((now - lastRenewedAt!) / 1000)} s ago; not again before ${Math.round(renewal.minIntervalMs / 1000)} s`;
            log.warn(message);
            ctx.report({ type: 'BrowserReady', status: 'True', reason: 'MemoryHigh', message });
            return;
          }
          renewing = renew(due.cause).finally(() => (renewing = undefined));
        }, renewal.checkIntervalMs),
      );

      ctx.report({ type: 'BrowserReady', status: 'True', reason: 'PageLoaded' });
      log.info({ pid: current.pid, pages: inputs.length }, 'page ready');
      const rotation = (): RotationState | undefined => {
        const inst = current;
        if (!rotating() || !inst) return undefined;
        const now = new Date();
        const inRotation = new Set(pagesInRotation(inputs, timezone, now));
        const next = showing !== undefined ? nextAt : undefined;
        return {
          showing,
          since: showing === undefined ? undefined : new Date(since).toISOString(),
          nextSwitchAt: next === undefined ? undefined : new Date(next).toISOString(),
          pages: inst.pages.map((p) => ({ index: p.index, url: p.input.url, state: p.state, ...(p.error !== undefined && p.state === 'failed' ? { error: p.error } : {}), inRotation: inRotation.has(p.index) })),
        };
      };
      return {
        exited,
        stop,
        get reloads() {
          return reloads;
        },
        get renewals() {
          return renewals;
        },
        get pid() {
          return current?.pid;
        },
        memoryBytes: () => (current?.pgid === undefined ? undefined : groupMemory(current.pgid)),
        rotation,
        updatePages,
        reloadPages,
        alignSwitches: (fn: (after: number) => number | undefined) => {
          segmentEnd = fn;
          planTurn();
        },
        showPage: (index: number): ShowPageResult => {
          if (!Number.isInteger(index) || index < 0 || index >= inputs.length) return { ok: false, reason: 'range', message: `there is no page ${index}: the pages are 0 to ${inputs.length - 1}` };
          const p = current?.pages[index];
          if (!p || p.state !== 'ready') return { ok: false, reason: 'not-ready', message: `${label(index)} is not loaded${p?.error ? `: ${p.error}` : ''}` };
          void show(index, 'Jumped');
          return { ok: true };
        },
      };
    } catch (err) {
      await stop();
      if (err instanceof PagecastError) throw err;
      throw new PagecastError('PROCESS_FAILED', `Chromium failed to start: ${(err as Error).message.split('\n')[0]}`, { cause: err, source: 'chromium' });
    } finally {
      ctx.signal.removeEventListener('abort', onAbort);
    }
  }

  private async waitReady(page: Page, browser: BrowserOptions): Promise<void> {
    const w = browser.waitFor;
    if (!w) return;
    if ('selector' in w) await page.waitForSelector(w.selector, { state: 'visible', timeout: browser.navigationTimeout });
    else if ('networkIdle' in w) await page.waitForLoadState('networkidle', { timeout: browser.navigationTimeout });
    else await new Promise((r) => setTimeout(r, w.delay));
  }
}
