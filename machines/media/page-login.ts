// What a dashboard login puts into the browser, decided without one: the headers a page's own
// origin gets (never a third-party host it loads), and the tokens Home Assistant's frontend finds
// in localStorage. Pure; browser.ts applies them.
import { loginSecret, type LoginSecret } from '../../specs/resolve.js';
import type { BrowserOptions } from '../../specs/schema.js';

/** The origin of a page URL (`https://ha.example:8123`); undefined for one without (file:, about:). */
export function originOf(url: string): string | undefined {
  try {
    const o = new URL(url).origin;
    return o === 'null' ? undefined : o;
  } catch {
    return undefined;
  }
}

/** The Authorization header a login sends (Grafana: Bearer; basic), none for Home Assistant (its frontend authenticates itself). */
export function loginHeaders(secret: LoginSecret | undefined): Record<string, string> {
  if (secret?.kind === 'grafana') return { authorization: `Bearer ${secret.token}` };
  if (secret?.kind === 'basic') return { authorization: `Basic ${Buffer.from(`${secret.username}:${secret.password}`, 'utf8').toString('base64')}` };
  return {};
}

/** Every extra header a page's requests to its own origin carry: the spec's `headers`, then the login's. */
export function originHeaders(browser: BrowserOptions): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(browser.headers ?? {})) out[k.toLowerCase()] = v;
  return { ...out, ...loginHeaders(loginSecret(browser.login)) };
}

/** How long a long-lived token lasts, as far as the frontend is told: ten years. */
const TEN_YEARS_S = 10 * 365 * 86_400;

/**
 * The `hassTokens` value Home Assistant's frontend reads on start (home-assistant-js-websocket's
 * saved tokens): a long-lived access token with an expiry far ahead, so the frontend never tries
 * to refresh it and never shows its login page.
 */
export function hassTokens(origin: string, token: string, now: number): string {
  return JSON.stringify({
    hassUrl: origin,
    clientId: `${origin}/`,
    access_token: token,
    token_type: 'Bearer',
    expires_in: TEN_YEARS_S,
    refresh_token: '',
    expires: now + TEN_YEARS_S * 1000,
  });
}
