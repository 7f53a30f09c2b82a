// What a dashboard login puts into the browser, without one.
import { describe, expect, it } from 'vitest';
import { hassTokens, loginHeaders, originHeaders, originOf } from '../../../machines/media/page-login.js';
import { BrowserOptions } from '../../../specs/schema.js';

describe('page login', () => {
  it('the origin of a page, none for file: URLs', () => {
    expect(originOf('https://ha.example:8123/lovelace/0?kiosk')).toBe('https://ha.example:8123');
    expect(originOf('file:///srv/board.html')).toBeUndefined();
    expect(originOf('not a url')).toBeUndefined();
  });

  it('Grafana sends a Bearer token, basic a base64 user:password, Home Assistant no header', () => {
    expect(loginHeaders({ kind: 'grafana', token: 'glsa_x' })).toEqual({ authorization: 'Bearer glsa_x' });
    expect(loginHeaders({ kind: 'basic', username: 'kiosk', password: 'pä55' })).toEqual({ authorization: `Basic ${Buffer.from('kiosk:pä55').toString('base64')}` });
    expect(loginHeaders({ kind: 'homeAssistant', token: 't' })).toEqual({});
    expect(loginHeaders(undefined)).toEqual({});
  });

  it("the login's Authorization wins over a spec header of any case", () => {
    const browser = { ...BrowserOptions.parse({ headers: { Authorization: 'Bearer old', 'X-Dashboard': 'hall' } }), login: Object.assign({ grafana: { tokenFrom: { env: 'T' } } }, { secret: { kind: 'grafana' as const, token: 'new' } }) };
    expect(originHeaders(browser)).toEqual({ authorization: 'Bearer new', 'x-dashboard': 'hall' });
  });

  it('hassTokens: the saved-token shape of the frontend, expiring far ahead', () => {
    const t = JSON.parse(hassTokens('https://ha.example', 'llat', 1_000));
    expect(t).toEqual({ hassUrl: 'https://ha.example', clientId: 'https://ha.example/', access_token: 'llat', token_type: 'Bearer', expires_in: 315_360_000, refresh_token: '', expires: 1_000 + 315_360_000_000 });
  });
});
