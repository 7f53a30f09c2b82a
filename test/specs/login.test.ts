// spec.browser.login: the schema, and its secrets read from env or a file with errors that name
// the field and never the secret.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loginSecret, resolveLogin, resolveSpec } from '../../specs/resolve.js';
import { loadSpecText } from '../../specs/load.js';

const dir = mkdtempSync(join(tmpdir(), 'pc-login-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = join(dir, 'spec.yaml');

const spec = (browser: string, pages = '') => `apiVersion: pagecast/v1
kind: CastSpec
metadata: { name: hall }
spec:
  device: Hall TV
${pages || '  url: https://ha.example/lovelace/0'}
  browser:
${browser}
`;

describe('browser.login', () => {
  it('accepts Home Assistant, Grafana and basic logins, per spec and per page', () => {
    expect(loadSpecText(spec('    login: { homeAssistant: { tokenFrom: { env: HA_TOKEN } } }'), file).diagnostics).toEqual([]);
    expect(loadSpecText(spec('    login: { grafana: { tokenFrom: { file: secrets/grafana } } }'), file).diagnostics).toEqual([]);
    expect(loadSpecText(spec('    login: { basic: { usernameFrom: { env: U }, passwordFrom: { file: pw } } }'), file).diagnostics).toEqual([]);
    const pages = '  pages:\n    - url: https://ha.example/a\n      browser: { login: { homeAssistant: { tokenFrom: { env: HA_TOKEN } } } }\n    - url: https://grafana.example/d/1';
    expect(loadSpecText(spec('    zoom: 1', pages), file).diagnostics).toEqual([]);
  });

  it('refuses a token written into the spec, and names the place', () => {
    const r = loadSpecText(spec('    login: { grafana: { token: glsa_secret } }'), file);
    expect(r.diagnostics.map((d) => [d.line, d.path, d.message])).toEqual([
      [8, 'spec.browser.login.grafana.tokenFrom', 'missing, expected {env: NAME} or {file: path}'],
      [8, 'spec.browser.login.grafana.token', 'unknown field "token"'],
    ]);
    expect(JSON.stringify(r.diagnostics)).not.toContain('glsa_secret');
    expect(loadSpecText(spec('    login: { grafana: { tokenFrom: { env: T } }, basic: { usernameFrom: { env: U }, passwordFrom: { env: P } } }'), file).diagnostics.map((d) => d.message)).toEqual(['expected one of homeAssistant, grafana or basic, not grafana and basic']);
  });

  it('reads the secrets; errors name the field and never the value', async () => {
    writeFileSync(join(dir, 'pw'), 'pa55\n');
    writeFileSync(join(dir, 'two-lines'), 'a\nb');
    const ok = await resolveLogin({ basic: { usernameFrom: { env: 'U' }, passwordFrom: { file: 'pw' } } }, 'spec.browser', file, { U: 'kiosk' });
    expect(loginSecret(ok.error ? undefined : ok.login)).toEqual({ kind: 'basic', username: 'kiosk', password: 'pa55' });
    expect(await resolveLogin({ homeAssistant: { tokenFrom: { env: 'HA_TOKEN' } } }, 'spec.browser', file, {})).toEqual({ error: { path: 'spec.browser.login.homeAssistant.tokenFrom.env', message: 'environment variable HA_TOKEN is not set' } });
    expect(await resolveLogin({ grafana: { tokenFrom: { file: 'two-lines' } } }, 'spec.pages[1].browser', file, {})).toEqual({ error: { path: 'spec.pages[1].browser.login.grafana.tokenFrom.file', message: 'two-lines holds control characters (more than one line?)' } });
    expect(await resolveLogin({ basic: { usernameFrom: { env: 'U' }, passwordFrom: { env: 'P' } } }, 'spec.browser', file, { U: 'a:b', P: 'x' })).toMatchObject({ error: { message: 'a basic-auth username must not contain ":"' } });
  });

  it('a resolved spec carries the secret where the browser finds it, on the spec and on its pages', async () => {
    const loaded = loadSpecText(spec('    login: { grafana: { tokenFrom: { env: T } } }', '  pages:\n    - url: https://ha.example/a\n      browser: { login: { homeAssistant: { tokenFrom: { env: H } } } }\n    - url: https://grafana.example/d/1'), file);
    const r = await resolveSpec(loaded.specs[0]!.spec, file, { T: 'glsa', H: 'llat' });
    if (r.error) throw new Error(r.error.message);
    expect(loginSecret(r.spec.spec.browser.login)).toEqual({ kind: 'grafana', token: 'glsa' });
    expect(loginSecret(r.spec.spec.pages![0]!.browser!.login)).toEqual({ kind: 'homeAssistant', token: 'llat' });
  });
});
