import { describe, expect, it } from 'vitest';
import { errorsIn, redactSpecYaml, specAsYaml } from '../../../controller/status/spec-source.js';

const FILE = `apiVersion: pagecast/v1
kind: CastSpec
metadata:
  name: kitchen # see https://docs.example/?k=COMMENTSECRET
spec:
  device: Kitchen TV
  url: https://user:pw@ha.example/lovelace?token=URLSECRET
  browser:
    headers:
      Authorization: Bearer HEADERSECRET
      X-Other: |
        line one SECRET1
        line two SECRET2
    storageState: secrets/ha-login.json
  pages:
    - url: "https://ha.example/p2?auth=PAGESECRET"
      for: 10s
  quality: 4k
`;

describe('redactSpecYaml', () => {
  it('redacts URLs, header values and storage states, keeping every line where it was', () => {
    const out = redactSpecYaml(FILE);
    for (const secret of ['URLSECRET', 'HEADERSECRET', 'SECRET1', 'SECRET2', 'PAGESECRET', 'COMMENTSECRET', 'pw@', 'ha-login.json']) expect(out).not.toContain(secret);
    expect(out.split('\n')).toHaveLength(FILE.split('\n').length);
    const lines = out.split('\n');
    expect(lines[6]).toBe('  url: "https://[redacted]@ha.example/lovelace?[redacted]"');
    expect(lines[9]).toBe('      Authorization: [redacted]');
    expect(lines[15]).toBe('    - url: "https://ha.example/p2?[redacted]"');
    expect(lines[17]).toBe('  quality: 4k');
  });

  it('redacts text that is not valid YAML line by line', () => {
    const out = redactSpecYaml('spec:\n  url: https://a.example/?t=SECRET\n  token: abc\n  : : [\n');
    expect(out).not.toContain('SECRET');
    expect(out.split('\n')).toHaveLength(5);
  });
});

describe('errorsIn', () => {
  it('places errors about the file on their lines', () => {
    expect(errorsIn('kitchen.yaml:18:12 spec.quality: expected 480p\nother.yaml:2:1 x\nno position here', 'kitchen.yaml')).toEqual([
      { line: 18, column: 12, message: 'spec.quality: expected 480p' },
      { message: 'other.yaml:2:1 x' },
      { message: 'no position here' },
    ]);
  });
});

describe('specAsYaml', () => {
  it('shows an ephemeral cast with its secrets redacted', () => {
    const text = specAsYaml({ metadata: { name: 'doorbell' }, spec: { device: 'TV', url: 'https://cam.example/live?key=K', browser: { headers: { a: 'b' } } } });
    expect(text).toContain('url: https://cam.example/live?[redacted]');
    expect(text).toContain('headers: "[redacted]"');
    expect(text).not.toContain('key=K');
  });
});
