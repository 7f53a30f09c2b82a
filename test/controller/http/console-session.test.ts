import { describe, expect, it } from 'vitest';
import { MAX_SESSIONS, SESSION_IDLE_MS, SESSION_MAX_MS, SessionStore, cookieValue, csrfMatches, sameOrigin } from '../../../controller/http/console/session.js';
import { safeNext } from '../../../controller/http/console/console.js';

describe('SessionStore', () => {
  it('ends a session unused for SESSION_IDLE_MS, and any after SESSION_MAX_MS', () => {
    let now = 0;
    const store = new SessionStore(() => now);
    const a = store.create();
    now += SESSION_IDLE_MS - 1;
    expect(store.get(a.id)).toBe(a.session);
    now += SESSION_IDLE_MS + 1;
    expect(store.get(a.id)).toBeUndefined();
    const b = store.create();
    for (let t = 0; t < SESSION_MAX_MS; t += SESSION_IDLE_MS / 2) {
      now += SESSION_IDLE_MS / 2;
      store.get(b.id);
    }
    now += 1;
    expect(store.get(b.id)).toBeUndefined();
  });

  it('holds at most MAX_SESSIONS, dropping the least recently used; ids are not kept', () => {
    const store = new SessionStore(() => 0);
    const first = store.create();
    const second = store.create();
    store.get(first.id);
    for (let i = 0; i < MAX_SESSIONS - 1; i++) store.create();
    expect(store.size).toBe(MAX_SESSIONS);
    expect(store.get(second.id)).toBeUndefined();
    expect(store.get(first.id)).toBeDefined();
    expect(JSON.stringify([...(store as unknown as { byHash: Map<string, unknown> }).byHash.keys()])).not.toContain(first.id);
    expect(store.get(undefined)).toBeUndefined();
    expect(store.get('x'.repeat(500))).toBeUndefined();
  });

  it('checks CSRF tokens', () => {
    const { session } = new SessionStore().create();
    expect(csrfMatches(session, session.csrf)).toBe(true);
    expect(csrfMatches(session, undefined)).toBe(false);
    expect(csrfMatches(session, '')).toBe(false);
    expect(csrfMatches(session, `${session.csrf}x`)).toBe(false);
  });
});

describe('requests', () => {
  it('reads a cookie', () => {
    expect(cookieValue('a=1; pagecast_session=abc; b=2', 'pagecast_session')).toBe('abc');
    expect(cookieValue('xpagecast_session=abc', 'pagecast_session')).toBeUndefined();
    expect(cookieValue(undefined, 'pagecast_session')).toBeUndefined();
  });

  it('tells a page of this console from another site', () => {
    expect(sameOrigin({ origin: 'http://127.0.0.1:8780', host: '127.0.0.1:8780' })).toBe(true);
    expect(sameOrigin({ origin: 'http://127.0.0.1:8781', host: '127.0.0.1:8780' })).toBe(false);
    expect(sameOrigin({ origin: 'https://evil.example', host: '127.0.0.1:8780' })).toBe(false);
    expect(sameOrigin({ origin: 'null', host: '127.0.0.1:8780' })).toBe(false);
    expect(sameOrigin({ origin: 'https://ha.example', host: '172.30.32.1:8780', 'x-forwarded-host': 'ha.example' })).toBe(true);
    expect(sameOrigin({ host: '127.0.0.1:8780', 'sec-fetch-site': 'cross-site' })).toBe(false);
    expect(sameOrigin({ host: '127.0.0.1:8780', 'sec-fetch-site': 'same-origin' })).toBe(true);
    expect(sameOrigin({ host: '127.0.0.1:8780' })).toBe(true);
  });

  it('keeps sign-in redirects on this console', () => {
    expect(safeNext('/specs/kitchen')).toBe('/specs/kitchen');
    for (const bad of [null, '', 'https://evil.example', '//evil.example', '/\\evil', '/a\nb']) expect(safeNext(bad)).toBe('/');
  });
});
