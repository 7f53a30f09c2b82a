import { describe, expect, it } from 'vitest';
import { redactText, redactUrl } from '../../../controller/status/redact.js';

describe('redactUrl', () => {
  it('keeps scheme, host and path; drops credentials, query and fragment', () => {
    const table: Array<[string, string]> = [
      ['https://ha.example/lovelace/kitchen', 'https://ha.example/lovelace/kitchen'],
      ['https://ha.example:8123/lovelace/0?kiosk', 'https://ha.example:8123/lovelace/0?[redacted]'],
      ['https://ha.example/api/camera?token=abc123&x=1', 'https://ha.example/api/camera?[redacted]'],
      ['https://grafana.example/d/x#access_token=abc123', 'https://grafana.example/d/x#[redacted]'],
      ['https://admin:hunter2@nas.local/status', 'https://[redacted]@nas.local/status'],
      ['https://apikey@nas.local/', 'https://[redacted]@nas.local/'],
      ['http://user:pw@[fe80::1]:8080/p?q=1#f', 'http://[redacted]@[fe80::1]:8080/p?[redacted]#[redacted]'],
      ['file:///home/me/secrets/board.html', 'file://[redacted]'],
      ['not a url', '[redacted]'],
      ['', '[redacted]'],
    ];
    for (const [raw, redacted] of table) expect(redactUrl(raw), raw).toBe(redacted);
  });
});

describe('redactText', () => {
  it('redacts every URL inside free text and leaves the rest', () => {
    const table: Array<[string, string]> = [
      ['goto https://ha.example/k?token=abc123 timed out', 'goto https://ha.example/k?[redacted] timed out'],
      ['a https://u:p@a.example/x and http://b.example/?k=v', 'a https://[redacted]@a.example/x and http://b.example/?[redacted]'],
      ['"https://a.example/?sig=abc123", then (file:///etc/secret)', '"https://a.example/?[redacted]", then (file://[redacted])'],
      ["url='https://a.example/#tok'", "url='https://a.example/#[redacted]'"],
      ['connect ECONNREFUSED 192.168.1.20:8009', 'connect ECONNREFUSED 192.168.1.20:8009'],
      ['ftp://a.example/?k=v is not http', 'ftp://a.example/?k=v is not http'],
    ];
    for (const [text, redacted] of table) expect(redactText(text), text).toBe(redacted);
  });
});
