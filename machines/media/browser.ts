// BrowserDriver: the system Chromium driven by playwright-core, headful on the stream's Xvfb,
// kiosk at exactly the stream size, with a fresh profile per start. Navigation failures are
// retried with backoff and reported; a crash, a disconnect or a hung renderer settles `exited`.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { lstat, readdir, readlink, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { PagecastError } from '../errors.js';
import { DEFAULT_STOP, processStartTime, readStat, type ProcessRegistry } from '../processes/registry.js';
import type { BrowserDriver, BrowserHandle, ExitInfo, StartContext, StreamInput } from '../components.js';

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
}

/** Chromium flags for a kiosk on a closed network (no Google traffic, no first-run UI). */
export function chromiumArgs(width: number, height: number, root: boolean): string[] {
  return [
    '--kiosk',
    '--start-fullscreen',
    '--window-position=0,0',
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

/**
 * The prefix of a profile made by this process: its pid and start time name the owner, so that a
 * later start can tell the profiles of a run that died from those of a live controller.
 */
export function ownedProfilePrefix(): string {
  return `${PROFILE_PREFIX}${process.pid}-${processStartTime(process.pid) ?? 0}-`;
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
export async function removeStaleProfiles(root: string, opts: { now?: number } = {}): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(root);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    if (!name.startsWith(PROFILE_PREFIX)) continue;
    const dir = join(root, name);
    try {
      const st = await lstat(dir);
      if (!st.isDirectory()) continue;
      const owner = /^pagecast-profile-(\d+)-(\d+)-/.exec(name);
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

export class ChromiumBrowserDriver implements BrowserDriver {
  /** Profiles of runs that died are removed once, before the first profile of this run is made. */
  private staleProfilesRemoved?: Promise<string[]>;

  constructor(private readonly opts: ChromiumBrowserOptions) {}

  async start(o: { display: string; input: StreamInput }, ctx: StartContext): Promise<BrowserHandle> {
    if (ctx.signal.aborted) throw new PagecastError('ABORTED', 'browser start aborted');
    const log = ctx.log.child({ component: 'browser' });
    const executablePath = this.opts.executablePath ?? findChromium();
    if (!executablePath) throw new PagecastError('CONFIG', `no Chromium found (looked at ${CHROMIUM_PATHS.join(', ')}); set its path`);
    const { width, height } = o.input.quality;
    const b = o.input.browser;
    const profileRoot = this.opts.profileRoot ?? tmpdir();
    this.staleProfilesRemoved ??= removeStaleProfiles(profileRoot).then((removed) => {
      if (removed.length > 0) log.info({ removed }, 'removed Chromium profiles of runs that died');
      return removed;
    });
    await this.staleProfilesRemoved;
    if (ctx.signal.aborted) throw new PagecastError('ABORTED', 'browser start aborted');
    const profile = mkdtempSync(join(profileRoot, ownedProfilePrefix()));
    // Chromium's single-instance socket goes in TMPDIR and outlives a killed Chromium: give each
    // browser its own, short (a Unix socket path has at most 107 bytes), removed with the profile.
    const chromiumTmp = mkdtempSync(join(tmpdir(), 'pc-chromium-'));
    const backoff = this.opts.backoff ?? { initialMs: 1000, maxMs: 30_000 };
    const health = this.opts.health ?? { intervalMs: 5000, timeoutMs: 10_000 };

    let context: BrowserContext | undefined;
    let pid: number | undefined;
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

    const stop = async () => {
      stopping = true;
      for (const t of timers) clearInterval(t);
      if (context) await Promise.race([context.close().catch(() => {}), new Promise((r) => setTimeout(r, 5000))]);
      if (pid !== undefined) await this.opts.registry.stop(pid, DEFAULT_STOP);
      rmSync(profile, { recursive: true, force: true });
      rmSync(chromiumTmp, { recursive: true, force: true });
      finish({ reason: 'stopped' });
    };

    const onAbort = () => void stop();
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    try {
      context = await chromium.launchPersistentContext(profile, {
        executablePath,
        headless: false,
        // The owner token marks Chromium's helpers as ours for the reaper.
        env: { ...process.env, DISPLAY: o.display, TMPDIR: chromiumTmp, ...this.opts.registry.childEnv() },
        args: chromiumArgs(width, height, process.getuid?.() === 0),
        ignoreDefaultArgs: ['--enable-automation'],
        // No viewport emulation: Playwright would resize the window to fit it and so leave kiosk
        // fullscreen (there is no window manager). Kiosk on a W×H screen makes the page W×H at DPR 1.
        viewport: null,
        timeout: this.opts.launchTimeoutMs ?? 30_000,
        ...(b.headers ? { extraHTTPHeaders: b.headers } : {}),
        ...(b.userAgent ? { userAgent: b.userAgent } : {}),
        ...(b.colorScheme ? { colorScheme: b.colorScheme } : {}),
      });
      pid = findChildByMarker(profile);
      if (pid !== undefined) {
        // Playwright starts the browser as the leader of its own process group.
        this.opts.registry.register({ pid, pgid: readStat(pid)?.pgid ?? pid, name: 'chromium', startTime: processStartTime(pid) ?? 0 });
      } else log.warn('could not find the Chromium process to register');
      if (ctx.signal.aborted) throw new PagecastError('ABORTED', 'browser start aborted');
      if (b.storageState) await context.setStorageState(b.storageState);
      await context.addInitScript((css: string) => {
        const add = () => {
          const s = document.createElement('style');
          s.setAttribute('data-pagecast', '');
          s.textContent = css;
          (document.head ?? document.documentElement).appendChild(s);
        };
        if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', add, { once: true });
        else add();
      }, pageCss(b.zoom, b.css));

      const page: Page = context.pages()[0] ?? (await context.newPage());
      page.setDefaultNavigationTimeout(b.navigationTimeout);
      page.on('crash', () => finish({ reason: 'crashed', message: 'the page crashed' }));
      context.on('close', () => {
        if (!stopping) finish({ reason: 'disconnected', message: 'the browser closed or disconnected' });
      });

      let navigating = false;
      const navigate = async (how: 'goto' | 'reload') => {
        navigating = true;
        try {
          for (let attempt = 0; ; attempt++) {
            if (stopping || settled) return;
            try {
              const res = how === 'goto' || attempt > 0 ? await page.goto(o.input.url, { waitUntil: 'load' }) : await page.reload({ waitUntil: 'load' });
              if (res && res.status() >= 400) throw Object.assign(new Error(`HTTP ${res.status()}`), { status: res.status() });
              await this.waitReady(page, o.input);
              return;
            } catch (err) {
              if (stopping || settled) return;
              const message = navigationFailure(err, (err as { status?: number }).status);
              const wait = backoffMs(attempt, backoff.initialMs, backoff.maxMs);
              log.warn({ attempt, message, retryInMs: wait }, 'navigation failed');
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

      await navigate('goto');
      if (ctx.signal.aborted || stopping) throw new PagecastError('ABORTED', 'browser start aborted');
      if (settled) throw new PagecastError('PROCESS_FAILED', `browser failed while loading the page: ${(await exited).message}`, { source: 'chromium' });

      let reloads = 0;
      if (b.reload !== undefined) {
        timers.push(
          setInterval(() => {
            if (navigating || stopping || settled) return;
            reloads++;
            void navigate('reload').then(() => {
              if (!stopping && !settled) ctx.report({ type: 'BrowserReady', status: 'True', reason: 'Reloaded', message: `reload ${reloads}` });
            });
          }, b.reload),
        );
      }
      let probing = false;
      timers.push(
        setInterval(() => {
          if (pid !== undefined && !stopping) {
            const s = readStat(pid);
            if (s === undefined || s.state === 'Z') return finish({ reason: 'exited', message: 'the Chromium process exited' });
          }
          if (navigating || probing || stopping || settled) return;
          probing = true;
          const timer = setTimeout(() => finish({ reason: 'hung', message: `the page did not answer within ${health.timeoutMs} ms` }), health.timeoutMs);
          page
            .evaluate(() => 1)
            .then(() => clearTimeout(timer), () => clearTimeout(timer))
            .finally(() => (probing = false));
        }, health.intervalMs),
      );

      ctx.report({ type: 'BrowserReady', status: 'True', reason: 'PageLoaded' });
      log.info({ pid }, 'page ready');
      return {
        exited,
        stop,
        get reloads() {
          return reloads;
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

  private async waitReady(page: Page, input: StreamInput): Promise<void> {
    const w = input.browser.waitFor;
    if (!w) return;
    if ('selector' in w) await page.waitForSelector(w.selector, { state: 'visible', timeout: input.browser.navigationTimeout });
    else if ('networkIdle' in w) await page.waitForLoadState('networkidle', { timeout: input.browser.navigationTimeout });
    else await new Promise((r) => setTimeout(r, w.delay));
  }
}
