// BrowserDriver: the system Chromium driven by playwright-core, headful on the stream's Xvfb,
// kiosk at exactly the stream size, with a fresh profile per start. Navigation failures are
// retried with backoff and reported; a crash, a disconnect or a hung renderer settles `exited`.
// Past `browser.maxMemory`, or every `browser.restartEvery`, the handle replaces its Chromium
// with a new one on the same display (see `renew` below); the machines see the same handle.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { lstat, readdir, readlink, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { PagecastError } from '../errors.js';
import { DEFAULT_STOP, processStartTime, readStat, type ProcessRegistry } from '../processes/registry.js';
import { RepeatedWarning } from '../repeated-warning.js';
import type { BrowserDriver, BrowserHandle, ExitInfo, StartContext, StreamInput } from '../components.js';
import { describeCause, groupMemory, renewalDue, type RenewCause } from './browser-memory.js';
import { windowsOf, X11Connection } from './x11.js';

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
}

/**
 * Chromium flags for a kiosk on a closed network (no Google traffic, no first-run UI). `x` places
 * the window: a replacement starts beyond the screen's right edge, out of the captured area.
 */
export function chromiumArgs(width: number, height: number, root: boolean, x = 0): string[] {
  return [
    '--kiosk',
    '--start-fullscreen',
    `--window-position=${x},0`,
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

/** One Chromium: its profile, its persistent context and its page. */
interface Instance {
  profile: string;
  chromiumTmp: string;
  context?: BrowserContext;
  page?: Page;
  pid?: number;
  pgid?: number;
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

export class ChromiumBrowserDriver implements BrowserDriver {
  /** Profiles of runs that died are removed once, before the first profile of this run is made. */
  private staleProfilesRemoved?: Promise<string[]>;

  constructor(private readonly opts: ChromiumBrowserOptions) {}

  async start(o: { display: string; input: StreamInput }, ctx: StartContext): Promise<ChromiumBrowserHandle> {
    if (ctx.signal.aborted) throw new PagecastError('ABORTED', 'browser start aborted');
    const log = ctx.log.child({ component: 'browser' });
    const executablePath = this.opts.executablePath ?? findChromium();
    if (!executablePath) throw new PagecastError('CONFIG', `no Chromium found (looked at ${CHROMIUM_PATHS.join(', ')}); set its path`);
    const { width, height } = o.input.quality;
    const b = o.input.browser;
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

    let current: Instance | undefined; // the Chromium on screen; `exited` follows it
    let replacement: Instance | undefined; // one being made ready, off screen
    let stopping = false;
    let settle: (e: ExitInfo) => void = () => {};
    const exited = new Promise<ExitInfo>((r) => (settle = r));
    let settled = false;
    const timers: NodeJS.Timeout[] = [];
    const finish = (e: ExitInfo) => {
      if (settled) return;
      settled = true;
      for (const t of timers) clearInterval(t);
      if (e.reason !== 'stopped') {
        log.warn({ exit: e }, 'browser gone');
        ctx.report({ type: 'BrowserReady', status: 'False', reason: e.reason === 'hung' ? 'Hung' : e.reason === 'crashed' ? 'Crashed' : 'Exited', message: e.message ?? e.reason });
      }
      settle(e);
    };
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

    /** A Chromium with the page's context set up (storage, CSS), at `x` on the display. */
    const launch = async (x: number): Promise<Instance> => {
      const inst: Instance = {
        profile: mkdtempSync(join(profileRoot, ownedProfilePrefix())),
        // Chromium's single-instance socket goes in TMPDIR and outlives a killed Chromium: give each
        // browser its own, short (a Unix socket path has at most 107 bytes), removed with the profile.
        chromiumTmp: mkdtempSync(join(tmpdir(), ownedProfilePrefix(CHROMIUM_TMP_PREFIX))),
        closing: false,
      };
      try {
        inst.context = await chromium.launchPersistentContext(inst.profile, {
          executablePath,
          headless: false,
          // The owner token marks Chromium's helpers as ours for the reaper.
          env: { ...process.env, DISPLAY: o.display, TMPDIR: inst.chromiumTmp, ...this.opts.registry.childEnv() },
          args: chromiumArgs(width, height, process.getuid?.() === 0, x),
          ignoreDefaultArgs: ['--enable-automation'],
          // No viewport emulation: Playwright would resize the window to fit it and so leave kiosk
          // fullscreen (there is no window manager). Kiosk on a W×H screen makes the page W×H at DPR 1.
          viewport: null,
          timeout: this.opts.launchTimeoutMs ?? 30_000,
          ...(b.headers ? { extraHTTPHeaders: b.headers } : {}),
          ...(b.userAgent ? { userAgent: b.userAgent } : {}),
          ...(b.colorScheme ? { colorScheme: b.colorScheme } : {}),
        });
        inst.pid = findChildByMarker(inst.profile);
        if (inst.pid !== undefined) {
          // Playwright starts the browser as the leader of its own process group.
          inst.pgid = readStat(inst.pid)?.pgid ?? inst.pid;
          this.opts.registry.register({ pid: inst.pid, pgid: inst.pgid, name: 'chromium', startTime: processStartTime(inst.pid) ?? 0 });
        } else log.warn('could not find the Chromium process to register');
        if (b.storageState) await inst.context.setStorageState(b.storageState);
        await inst.context.addInitScript((css: string) => {
          const add = () => {
            const s = document.createElement('style');
            s.setAttribute('data-pagecast', '');
            s.textContent = css;
            (document.head ?? document.documentElement).appendChild(s);
          };
          if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', add, { once: true });
          else add();
        }, pageCss(b.zoom, b.css));
        const page = inst.context.pages()[0] ?? (await inst.context.newPage());
        inst.page = page;
        page.setDefaultNavigationTimeout(b.navigationTimeout);
        page.on('crash', () => gone(inst, { reason: 'crashed', message: 'the page crashed' }));
        inst.context.on('close', () => gone(inst, { reason: 'disconnected', message: 'the browser closed or disconnected' }));
        return inst;
      } catch (err) {
        await close(inst);
        throw err;
      }
    };

    const stop = async () => {
      stopping = true;
      for (const t of timers) clearInterval(t);
      await Promise.all([current && close(current), replacement && close(replacement), renewing]);
      finish({ reason: 'stopped' });
    };

    let navigating = false;
    /** Loads the page: with retries and backoff for the one on screen, once for a replacement. */
    const navigate = async (inst: Instance, how: 'goto' | 'reload', retry: boolean) => {
      const page = inst.page!;
      navigating = true;
      try {
        for (let attempt = 0; ; attempt++) {
          if (stopping || settled || inst.closing) return;
          try {
            const res = how === 'goto' || attempt > 0 ? await page.goto(o.input.url, { waitUntil: 'load' }) : await page.reload({ waitUntil: 'load' });
            if (res && res.status() >= 400) throw Object.assign(new Error(`HTTP ${res.status()}`), { status: res.status() });
            await this.waitReady(page, o.input);
            if (retry) navigationWarning.recovered('page loaded again');
            return;
          } catch (err) {
            if (stopping || settled || inst.closing) return;
            const message = navigationFailure(err, (err as { status?: number }).status);
            if (!retry) throw new PagecastError('NAVIGATION_FAILED', message, { cause: err });
            const wait = backoffMs(attempt, backoff.initialMs, backoff.maxMs);
            navigationWarning.failed(wait, { message });
            ctx.report({ type: 'BrowserReady', status: 'False', reason: 'NavigationFailed', message });
            await new Promise<void>((resolve) => {
              const t = setTimeout(resolve, wait);
              ctx.signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
            });
          }
        }
      } finally {
        navigating = false;
      }
    };

    let renewing: Promise<void> | undefined;
    let renewals = 0;
    const startedAt = Date.now();
    let lastRenewedAt: number | undefined;
    let heldSince: number | undefined; // over the limit, but renewed too recently to renew again
    /**
     * Replaces the Chromium without the TV seeing it. With no window manager a new window maps on
     * top, white until its page paints; and a window moved on screen is first filled with its
     * background. So the new one starts beyond the screen's right edge, loads and paints there;
     * then its X background is cleared (the server leaves the old pixels until it repaints) and it
     * is moved to 0,0 over the old one, which is closed beneath it.
     */
    const renew = async (cause: RenewCause) => {
      const why = describeCause(cause);
      log.info({ why }, 'replacing the browser');
      let fresh: Instance | undefined;
      try {
        fresh = replacement = await launch(width * 4);
        if (stopping || settled || fresh.closing) throw new PagecastError('ABORTED', 'stopped during the replacement');
        await navigate(fresh, 'goto', false);
        await painted(fresh.page!, health.timeoutMs);
        if (stopping || settled || fresh.closing) throw new PagecastError('ABORTED', 'stopped during the replacement');
        await this.reveal(o.display, fresh, width);
        const old = current!;
        current = fresh;
        replacement = undefined;
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
      await navigate(current, 'goto', true);
      if (ctx.signal.aborted || stopping) throw new PagecastError('ABORTED', 'browser start aborted');
      if (settled) throw new PagecastError('PROCESS_FAILED', `browser failed while loading the page: ${(await exited).message}`, { source: 'chromium' });
      // Ready means on screen: the encoder starting next captures the page, not the blank before it.
      await painted(current.page!, health.timeoutMs).catch(() => {}); // a page that never paints is the health check's to find

      let reloads = 0;
      if (b.reload !== undefined) {
        timers.push(
          setInterval(() => {
            if (navigating || renewing || stopping || settled) return;
            reloads++;
            void navigate(current!, 'reload', true).then(() => {
              if (!stopping && !settled) ctx.report({ type: 'BrowserReady', status: 'True', reason: 'Reloaded', message: `reload ${reloads}` });
            });
          }, b.reload),
        );
      }
      let probing = false;
      timers.push(
        setInterval(() => {
          const inst = current!;
          if (inst.pid !== undefined && !stopping) {
            const s = readStat(inst.pid);
            if (s === undefined || s.state === 'Z') return gone(inst, { reason: 'exited', message: 'the Chromium process exited' });
          }
          if (navigating || probing || stopping || settled) return;
          probing = true;
          const timer = setTimeout(() => gone(inst, { reason: 'hung', message: `the page did not answer within ${health.timeoutMs} ms` }), health.timeoutMs);
          inst
            .page!.evaluate(() => 1)
            .then(() => clearTimeout(timer), () => clearTimeout(timer))
            .finally(() => (probing = false));
        }, health.intervalMs),
      );
      timers.push(
        setInterval(() => {
          if (navigating || renewing || stopping || settled) return;
          const now = Date.now();
          const memoryBytes = current!.pgid === undefined ? undefined : groupMemory(current!.pgid);
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
      log.info({ pid: current.pid }, 'page ready');
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
      };
    } catch (err) {
      await stop();
      if (err instanceof PagecastError) throw err;
      throw new PagecastError('PROCESS_FAILED', `Chromium failed to start: ${(err as Error).message.split('\n')[0]}`, { cause: err, source: 'chromium' });
    } finally {
      ctx.signal.removeEventListener('abort', onAbort);
    }
  }

  /**
   * Brings a replacement's window, painted beyond the right edge, on screen at 0,0. Its background
   * is cleared first: the part of a moved window that comes into view is otherwise filled with the
   * background colour (white) until Chromium repaints it, which a 30 fps capture catches.
   */
  private async reveal(display: string, inst: Instance, width: number): Promise<void> {
    if (inst.pid === undefined) throw new Error('the new Chromium process was not found');
    const x = await X11Connection.open(display);
    try {
      const off = (await windowsOf(x, inst.pid)).filter((w) => w.x >= width);
      if (off.length === 0) throw new Error('the new Chromium has no window beyond the screen edge');
      for (const w of off) {
        await x.clearBackground(w.id);
        await x.move(w.id, 0, 0);
      }
      await x.sync();
    } finally {
      x.close();
    }
  }

  private async waitReady(page: Page, input: StreamInput): Promise<void> {
    const w = input.browser.waitFor;
    if (!w) return;
    if ('selector' in w) await page.waitForSelector(w.selector, { state: 'visible', timeout: input.browser.navigationTimeout });
    else if ('networkIdle' in w) await page.waitForLoadState('networkidle', { timeout: input.browser.navigationTimeout });
    else await new Promise((r) => setTimeout(r, w.delay));
  }
}
