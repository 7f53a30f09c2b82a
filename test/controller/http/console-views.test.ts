import { describe, expect, it } from 'vitest';
import { cardFragment, countsFragment, devicesPage, failingCondition, overviewPage, timelineBar } from '../../../controller/http/console/views.js';
import { html, raw } from '../../../controller/http/console/html.js';
import { specStatus } from './fake-control.js';

const ctx = { base: '', tokenSet: true, now: Date.parse('2025-01-02T10:00:00.000Z') };
const HOSTILE = '<img src=x onerror=alert(1)>';

describe('rendering', () => {
  it('escapes everything that comes from a spec, a device or a page', () => {
    const s = specStatus('kitchen', {
      device: HOSTILE,
      conditions: [{ type: 'BrowserReady', status: 'False', reason: 'LoadFailed', message: `page said ${HOSTILE}`, lastTransitionTime: '2025-01-01T10:00:00.000Z' }],
      lastDrift: { reason: HOSTILE, at: '2025-01-01T10:00:00.000Z' },
    });
    const text = overviewPage(ctx, { specs: [s], spans: [], deviceNames: [HOSTILE] }).text;
    expect(text).not.toContain('<img src=x');
    expect(text).toContain('&lt;img src=x onerror=alert(1)&gt;');
    const devices = devicesPage(ctx, { devices: [{ name: HOSTILE, app: HOSTILE, discovered: true, specs: [] }], at: '2025-01-01T10:00:00.000Z' }).text;
    expect(devices).not.toContain('<img src=x');
    expect(html`<p title="${'" onmouseover="x'}">${raw('<b>ok</b>')}</p>`.text).toBe('<p title="&quot; onmouseover=&quot;x"><b>ok</b></p>');
  });

  it('counts phases the way an operator reads them', () => {
    const specs = ['Playing', 'Playing', 'Recovering', 'Playing'].map((phase, i) => specStatus(`s${i}`, { phase: phase as 'Playing' }));
    expect(countsFragment(specs).text).toBe('4 specs: <span class="count tone-busy">1 recovering</span>, <span class="count tone-ok">3 playing</span>');
    expect(countsFragment([]).text).toBe('No specs yet.');
  });

  it('names the failing condition; a preemption is not a failure', () => {
    const pre = specStatus('a', { conditions: [{ type: 'DeviceConflict', status: 'False', reason: 'Preempted', message: 'preempted by b', lastTransitionTime: '' }] });
    expect(failingCondition(pre)).toBeUndefined();
    const conflict = specStatus('a', { conditions: [{ type: 'DeviceConflict', status: 'True', reason: 'EqualPriority', message: 'b has it', lastTransitionTime: '' }] });
    expect(failingCondition(conflict)?.type).toBe('DeviceConflict');
    const fine = specStatus('a', {
      conditions: [
        { type: 'EncoderDegraded', status: 'False', reason: 'FullQuality', message: 'preset veryfast, 30 fps', lastTransitionTime: '' },
        { type: 'HardwareAcceleration', status: 'False', reason: 'SoftwareFallback', message: 'no VAAPI device', lastTransitionTime: '' },
      ],
    });
    expect(failingCondition(fine)).toBeUndefined();
    const degraded = specStatus('a', { conditions: [{ type: 'EncoderDegraded', status: 'True', reason: 'SteppedDown', message: '15 fps', lastTransitionTime: '' }] });
    expect(failingCondition(degraded)?.type).toBe('EncoderDegraded');
  });

  it('draws the timeline with attributes only (the CSP allows no inline style) and a text alternative', () => {
    const now = ctx.now;
    const bar = timelineBar([{ spec: 'kitchen', device: 'TV', start: now - 12 * 3600_000, end: now }], 'Playing', now, 'Play of kitchen').text;
    expect(bar).not.toContain('style=');
    expect(bar).toContain('aria-label="Play of kitchen, last 24 hours: playing 50%, stopped 50%"');
    expect(bar).toContain('<rect x="500.0" y="0" width="500.0" height="10" class="tl-playing">');
  });

  it('shows a thumbnail only while a stream runs, and the card reads the same until the status changes', () => {
    const running = specStatus('kitchen', { stream: { id: 's', sharedWith: [], fetches: [] } });
    expect(cardFragment(ctx, running, []).text).toContain('src="/api/v1/specs/kitchen/thumbnail.jpg"');
    expect(cardFragment(ctx, specStatus('kitchen', { phase: 'Suspended' }), []).text).toContain('no picture: suspended');
    expect(cardFragment(ctx, running, []).text).toBe(cardFragment(ctx, running, []).text);
  });
});
