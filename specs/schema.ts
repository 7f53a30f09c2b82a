// The CastSpec v1 schema: the single source of the spec types and of the JSON Schema editors use.
// `.meta({ applies })` says what a change to a field costs: `live` (no pipeline restart),
// `cast` (re-cast on the device, stream untouched) or `stream` (re-render, device link kept).
import { z } from 'zod';
import { formatDuration, parseDuration } from './duration.js';
import { formatSize, parseSize } from './size.js';

export const API_VERSION = 'pagecast/v1';
export const KIND = 'CastSpec';

const DAY = 86_400_000;

/** A duration like 2s, 5m or 1h, bounded: a wait longer than `max` is a typo, not a plan. */
const duration = (max: number, what = 'a duration like 2s, 5m or 1h') =>
  z
    .string({ error: `expected ${what}` })
    .transform((text, ctx) => {
      const ms = parseDuration(text);
      if (ms === undefined) {
        ctx.issues.push({ code: 'custom', message: `expected ${what}, got "${text}"`, input: text });
        return z.NEVER;
      }
      if (ms > max) {
        ctx.issues.push({ code: 'custom', message: `expected at most ${formatDuration(max)}, got "${text}"`, input: text });
        return z.NEVER;
      }
      return ms;
    })
    .meta({ type: 'string', pattern: '^(\\d+(\\.\\d+)?(ms|s|m|h|d))+$', examples: ['2s', '5m', '1h30m'] });

/** A size like 800MB or 1.5GB, in bytes, between `min` and `max`. */
const size = (min: number, max: number) =>
  z
    .string({ error: 'expected a size like 800MB or 1.5GB' })
    .transform((text, ctx) => {
      const bytes = parseSize(text);
      if (bytes === undefined) {
        ctx.issues.push({ code: 'custom', message: `expected a size like 800MB or 1.5GB, got "${text}"`, input: text });
        return z.NEVER;
      }
      if (bytes < min || bytes > max) {
        ctx.issues.push({ code: 'custom', message: `expected between ${formatSize(min)} and ${formatSize(max)}, got "${text}"`, input: text });
        return z.NEVER;
      }
      return bytes;
    })
    .meta({ type: 'string', pattern: '^\\s*\\d+(\\.\\d+)?\\s*([kKmMgG][iI]?[bB])\\s*$', examples: ['800MB', '1.5GB', '2GiB'] });

const positiveDuration = (max: number) => duration(max).refine((ms) => ms > 0, { message: 'expected a duration above zero' });

/** No control characters (CR, LF, NUL, ESC, …): they break headers, logs and terminals. */
const NO_CONTROL = /^[^\u0000-\u001f\u007f-\u009f]*$/;
const text = (what: string) => z.string().regex(NO_CONTROL, { error: `${what} must not contain control characters (newlines, NUL, escapes)` });

export const PRESETS = {
  '480p': { width: 854, height: 480, fps: 15, bitrateKbps: 1200 },
  '720p': { width: 1280, height: 720, fps: 30, bitrateKbps: 3000 },
  '1080p': { width: 1920, height: 1080, fps: 30, bitrateKbps: 6000 },
} as const;
export type PresetName = keyof typeof PRESETS;

const even = (what: string, min: number, max: number) =>
  z
    .number({ error: `expected a whole number of pixels for ${what}` })
    .int({ error: `expected a whole number of pixels for ${what}` })
    .min(min, { error: `${what} must be at least ${min}` })
    .max(max, { error: `${what} must be at most ${max} (the Default Media Receiver's limit)` })
    .refine((n) => n % 2 === 0, { message: `${what} must be even (H.264 4:2:0)` });

export const CustomQuality = z.strictObject({
  width: even('width', 320, 1920),
  height: even('height', 240, 1080),
  fps: z.number().int().min(1).max(60),
  bitrateKbps: z.number().int().min(200).max(20_000).optional(),
});

export const Quality = z
  .union([z.enum(['480p', '720p', '1080p']), CustomQuality], {
    error: 'expected 480p, 720p, 1080p or {width, height, fps}',
  })
  .transform((q): Resolution => {
    if (typeof q === 'string') return { ...PRESETS[q] };
    // A bitrate that fits the frame: ~0.1 bit per pixel per frame at 30 fps, at least 800 kbps.
    const bitrateKbps = q.bitrateKbps ?? Math.max(800, Math.round((q.width * q.height * Math.min(q.fps, 30) * 0.1) / 1000));
    return { width: q.width, height: q.height, fps: q.fps, bitrateKbps };
  });
export interface Resolution {
  width: number;
  height: number;
  fps: number;
  bitrateKbps: number;
}

export const HwAccel = z.enum(['auto', 'off', 'qsv', 'vaapi', 'nvenc']);
export type HwAccel = z.infer<typeof HwAccel>;
export const StreamMode = z.enum(['hls', 'fmp4']);
export type StreamMode = z.infer<typeof StreamMode>;

export const DeviceRef = z.union(
  [
    text('a device name').min(1, { error: 'expected a device name' }).max(253),
    z.strictObject({
      host: z.string().min(1),
      port: z.number().int().min(1).max(65535).default(8009),
    }),
    z.strictObject({ id: z.string().regex(/^[0-9a-f]{32}$/i, { error: 'expected the 32 hex digits of a Cast device id' }) }),
  ],
  { error: 'expected a device name, {host, port} or {id}' },
);
export type DeviceRef = z.output<typeof DeviceRef>;

const httpUrl = z.string().refine(
  (s) => {
    try {
      const u = new URL(s);
      return u.protocol === 'http:' || u.protocol === 'https:' || u.protocol === 'file:';
    } catch {
      return false;
    }
  },
  { message: 'expected an http, https or file URL' },
);

export const UrlFrom = z.union(
  [z.strictObject({ env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: 'expected an environment variable name like HA_URL' }) }), z.strictObject({ file: z.string().min(1) })],
  { error: 'expected {env: NAME} or {file: path}' },
);
export type UrlFrom = z.output<typeof UrlFrom>;

export const WaitFor = z.union(
  [
    z.strictObject({ selector: z.string().min(1) }),
    z.strictObject({ networkIdle: z.literal(true) }),
    z.strictObject({ delay: duration(10 * 60_000) }),
  ],
  { error: 'expected {selector: css}, {networkIdle: true} or {delay: 2s}' },
);

// The browser options a page of a rotation may override; the rest belong to the one browser.
const storageState = z.string().min(1).meta({ description: 'Playwright storage-state JSON (cookies, localStorage), relative to the spec file' });
const zoom = z.number().min(0.25).max(5);
const css = z.string().max(100_000);
const headers = z
  .record(
    z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, { error: 'expected an HTTP header name (letters, digits and !#$%&\'*+.^_`|~-)' }),
    z.string().regex(/^[^\u0000\r\n]*$/, { error: 'a header value must not contain CR, LF or NUL' }).max(8192),
  )
  .meta({ description: "extra HTTP headers sent with every request to the page's own origin (never to third-party hosts it loads)" });

/** Where a secret comes from: an environment variable or a file beside the spec, never the spec itself. */
export const SecretFrom = z.union(
  [z.strictObject({ env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: 'expected an environment variable name like HA_TOKEN' }) }), z.strictObject({ file: z.string().min(1) })],
  { error: 'expected {env: NAME} or {file: path}' },
);
export type SecretFrom = z.output<typeof SecretFrom>;

/**
 * A dashboard login. The secrets are read when the spec is (specs/resolve.ts) and go only to the
 * page's own origin. Home Assistant: a long-lived access token, put where its frontend keeps its
 * tokens (localStorage `hassTokens`) before the page loads. Grafana: a service-account token as a
 * Bearer header. Basic: HTTP basic authentication.
 */
const LoginKinds = z
  .strictObject({
    homeAssistant: z.strictObject({ tokenFrom: SecretFrom }).optional(),
    grafana: z.strictObject({ tokenFrom: SecretFrom }).optional(),
    basic: z.strictObject({ usernameFrom: SecretFrom, passwordFrom: SecretFrom }).optional(),
  })
  .superRefine((l, ctx) => {
    const given = Object.keys(l).filter((k) => l[k as keyof typeof l] !== undefined);
    if (given.length !== 1) ctx.issues.push({ code: 'custom', message: `expected one of homeAssistant, grafana or basic${given.length > 1 ? `, not ${given.join(' and ')}` : ''}`, input: l });
  });
export const Login = LoginKinds.transform(
  (l) => (l.homeAssistant ? { homeAssistant: l.homeAssistant } : l.grafana ? { grafana: l.grafana } : { basic: l.basic! }) as { homeAssistant: { tokenFrom: SecretFrom } } | { grafana: { tokenFrom: SecretFrom } } | { basic: { usernameFrom: SecretFrom; passwordFrom: SecretFrom } },
);
export type Login = z.output<typeof Login>;
const login = Login.meta({ description: "log in to the dashboard: Home Assistant (a long-lived token), Grafana (a service-account token) or HTTP basic; credentials go to the page's own origin only" });

export const BrowserOptions = z.strictObject({
  storageState: storageState.optional(),
  login: login.optional(),
  waitFor: WaitFor.optional(),
  navigationTimeout: duration(10 * 60_000).default(30_000),
  reload: positiveDuration(7 * DAY).optional().meta({ description: 'reload the page this often (at most 7d)' }),
  zoom: zoom.default(1),
  css: css.optional(),
  headers: headers.optional(),
  userAgent: text('userAgent').max(1024).optional(),
  colorScheme: z.enum(['light', 'dark']).optional(),
  maxMemory: size(128e6, 64e9)
    .default(1.5e9)
    .meta({ description: "past this much memory (all of the browser's processes together) the browser is replaced, the new one painting before the old one closes" }),
  restartEvery: duration(30 * DAY)
    .refine((ms) => ms >= 60_000, { message: 'expected at least 1m' })
    .optional()
    .meta({ description: 'replace the browser this often (at least 1m), without the TV noticing' }),
});
export type BrowserOptions = z.output<typeof BrowserOptions>;

export const Policy = z.strictObject({
  onDeviceIdle: z.enum(['restart', 'teardown']).default('restart'),
  onEncoderExit: z.enum(['restart', 'teardown']).default('restart'),
  onOtherApp: z.enum(['wait', 'takeover']).default('wait'),
  parkAfter: duration(DAY)
    .default(120_000)
    .meta({ description: 'a device unreachable, in standby or busy with another app this long parks its stream (encoder, browser and display stop) until it is back' }),
  backoff: z
    .strictObject({ initial: positiveDuration(DAY).default(2000), max: positiveDuration(DAY).default(300_000) })
    .prefault({})
    .refine((b) => b.max >= b.initial, { message: 'backoff.max must not be below backoff.initial' }),
  maxRestarts: z
    .strictObject({ count: z.number().int().min(0).max(10_000).default(10), window: positiveDuration(30 * DAY).default(600_000) })
    .prefault({}),
});
export type Policy = z.output<typeof Policy>;

export const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Day = (typeof DAYS)[number];
// 24:00 is an end only (the next midnight); a window cannot start there.
const startClock = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, { error: 'expected a time like 07:00 (24-hour)' });
const endClock = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$|^24:00$/, { error: 'expected a time like 18:00 or 24:00 (24-hour)' });

export const ScheduleWindow = z
  .strictObject({
    days: z.array(z.enum(DAYS)).min(1).default([...DAYS]),
    start: startClock,
    end: endClock,
  })
  .refine((w) => w.start !== w.end, { message: 'start and end are equal: leave the schedule out to mean always on' });
export type ScheduleWindow = z.output<typeof ScheduleWindow>;

// Building an Intl.DateTimeFormat costs a fraction of a millisecond; 10,000 specs name a handful of zones.
const zoneChecks = new Map<string, boolean>();

export function isTimeZone(tz: string): boolean {
  let ok = zoneChecks.get(tz);
  if (ok === undefined) {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: tz });
      ok = true;
    } catch {
      ok = false;
    }
    if (zoneChecks.size < 1000) zoneChecks.set(tz, ok);
  }
  return ok;
}

export const Schedule = z.strictObject({
  timezone: z
    .string()
    .refine(isTimeZone, { message: 'expected an IANA time zone like Europe/Berlin' })
    .default('UTC')
    .meta({ description: "the zone of this schedule's windows and of the pages' windows" }),
  windows: z.array(ScheduleWindow).min(1).optional().meta({ description: 'absent: always on (a spec may name only its time zone, for the windows of its pages)' }),
});
export type Schedule = z.output<typeof Schedule>;

// ── pages: a rotation in one stream ─────────────────────────────────────────────────────────

export const MAX_PAGES = 20;
export const PAGE_OVERRIDES = ['zoom', 'css', 'waitFor', 'headers', 'storageState', 'login'] as const;

/**
 * A page's own browser options. Absent means the spec's value; no defaults here. The options of
 * the one browser (memory, renewal, user agent, …) are named so that a page giving one is told
 * where it goes rather than that it is unknown.
 */
export const PageBrowserOptions = z.strictObject({
  storageState: storageState.optional(),
  login: login.optional(),
  waitFor: WaitFor.optional(),
  zoom: zoom.optional(),
  css: css.optional(),
  headers: headers.optional(),
  ...Object.fromEntries(
    Object.keys(BrowserOptions.shape)
      .filter((k) => !(PAGE_OVERRIDES as readonly string[]).includes(k))
      .map((k) => [k, z.never({ error: `${k} is an option of the whole browser: set it in spec.browser (a page can override ${PAGE_OVERRIDES.slice(0, -1).join(', ')} and ${PAGE_OVERRIDES.at(-1)})` }).optional()]),
  ),
});
export type PageBrowserOptions = z.output<typeof PageBrowserOptions>;

export const PageSchedule = z.strictObject({
  timezone: z.never({ error: "a page's windows are in the spec's time zone: set spec.schedule.timezone" }).optional(),
  windows: z.array(ScheduleWindow).min(1),
});

export const Page = z
  .strictObject({
    url: httpUrl.optional(),
    urlFrom: UrlFrom.optional(),
    for: duration(DAY)
      .refine((ms) => ms >= 5000, { message: 'expected at least 5s' })
      .default(30_000)
      .meta({ description: 'how long the page shows in each turn (5s to 1d)' }),
    browser: PageBrowserOptions.optional().meta({ description: "this page's own browser options; the rest are the spec's" }),
    schedule: PageSchedule.optional().meta({ description: "the page is in the rotation only inside these windows (in the spec's time zone)" }),
  })
  .superRefine((p, ctx) => {
    if (p.url === undefined && p.urlFrom === undefined) ctx.issues.push({ code: 'custom', message: 'expected url or urlFrom', input: p, path: ['url'] });
    if (p.url !== undefined && p.urlFrom !== undefined) ctx.issues.push({ code: 'custom', message: 'give url or urlFrom, not both', input: p, path: ['urlFrom'] });
  });
export type Page = z.output<typeof Page>;

const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
// Kubernetes label syntax: an optional DNS-subdomain prefix and a name of at most 63 characters.
const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const labelKey = z.string().refine(
  (k) => {
    const slash = k.lastIndexOf('/');
    const prefix = slash === -1 ? undefined : k.slice(0, slash);
    const name = slash === -1 ? k : k.slice(slash + 1);
    return LABEL_NAME.test(name) && (prefix === undefined || (prefix.length <= 253 && DNS_SUBDOMAIN.test(prefix)));
  },
  { message: 'expected a label key like site or example.com/site (at most 63 letters, digits, -, _ or . after an optional DNS prefix)' },
);
const labelValue = z.string().regex(/^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/, { error: 'expected a label value of at most 63 letters, digits, -, _ or ., starting and ending with a letter or digit' });

export const Metadata = z.strictObject({
  name: z
    .string()
    .max(63)
    .regex(NAME, { error: 'expected a lowercase name of letters, digits and dashes (like kitchen-tv)' }),
  labels: z.record(labelKey, labelValue).default({}),
});

export const CastSpecBody = z
  .strictObject({
    device: DeviceRef.meta({ applies: 'cast' }),
    url: httpUrl.optional().meta({ applies: 'stream' }),
    urlFrom: UrlFrom.optional().meta({ applies: 'stream', description: 'read the URL from an env variable or a file, so secrets stay out of git' }),
    pages: z
      .array(Page)
      .min(1, { error: 'expected at least one page' })
      .max(MAX_PAGES, { error: `at most ${MAX_PAGES} pages` })
      .optional()
      .meta({ applies: 'stream', description: 'several pages shown in turn in one stream, instead of url or urlFrom' }),
    title: text('title').max(200).optional().meta({ applies: 'cast', description: 'title shown on the TV (default: the spec name)' }),
    quality: Quality.default({ ...PRESETS['720p'] }).meta({ applies: 'stream' }),
    hwAccel: HwAccel.default('auto').meta({ applies: 'stream' }),
    mode: StreamMode.default('hls').meta({ applies: 'stream' }),
    priority: z.number().int().min(-1000).max(1000).default(0).meta({ applies: 'live' }),
    suspend: z.boolean().default(false).meta({ applies: 'live', description: 'leave the device alone, like flux suspend' }),
    browser: BrowserOptions.prefault({}).meta({ applies: 'stream' }),
    policy: Policy.prefault({}).meta({ applies: 'live' }),
    schedule: Schedule.optional().meta({ applies: 'live' }),
  })
  .superRefine((s, ctx) => {
    const given = (['url', 'urlFrom', 'pages'] as const).filter((k) => s[k] !== undefined);
    if (given.length === 0) ctx.issues.push({ code: 'custom', message: 'expected url, urlFrom or pages', input: s, path: ['url'] });
    // On the second form given: the first is taken as meant.
    if (given.length > 1) ctx.issues.push({ code: 'custom', message: 'give url, urlFrom or pages, not more than one', input: s, path: [given[1]!] });
  });

export const CastSpecSchema = z.strictObject({
  apiVersion: z.literal(API_VERSION, { error: `expected apiVersion: ${API_VERSION}` }),
  kind: z.literal(KIND, { error: `expected kind: ${KIND}` }),
  metadata: Metadata,
  spec: CastSpecBody,
});

export type CastSpecInput = z.input<typeof CastSpecSchema>;
/** A validated spec, defaults applied. `spec.url` (and a page's `url`) may still be unresolved when `urlFrom` is used. */
export type CastSpec = z.output<typeof CastSpecSchema>;
export type CastSpecBody = CastSpec['spec'];
