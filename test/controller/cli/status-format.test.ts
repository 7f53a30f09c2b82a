import { describe, expect, it } from 'vitest';
import { formatDuration, formatPage, formatRelative, formatStatusDetail, formatStatusTable, mostRelevantMessage } from '../../../controller/cli/status-format.js';
import type { Condition, PageStatus, SpecStatus } from '../../../controller/status/types.js';
import { specStatus } from '../http/fake-control.js';

const now = new Date('2025-03-01T12:00:00.000Z');
const cond = (type: string, status: Condition['status'], reason: string, message = '', at = '2025-03-01T11:55:00.000Z'): Condition => ({
  type,
  status,
  reason,
  message,
  lastTransitionTime: at,
});

const kitchen: SpecStatus = specStatus('kitchen', {
  conditions: [cond('Valid', 'True', 'Parsed'), cond('MediaPlaying', 'True', 'Playing', '', '2025-03-01T11:58:30.000Z'), cond('HardwareAcceleration', 'False', 'NoDevice', 'no VAAPI device; using libx264')],
  restarts: 2,
  stream: {
    id: 's-1a2b',
    sharedWith: ['hall'],
    encoder: 'libx264',
    fallbackReason: 'no VAAPI device',
    figures: { fps: 29.97, speed: 1.001, droppedFrames: 3, duplicatedFrames: 1, bitrateKbps: 2950, frame: 53940, at: '2025-03-01T11:59:59.000Z', capture: { path: 'x11grab', capturedFps: 30, encodedFps: 4.62 } },
    fetches: [{ client: '192.168.1.20', lastPlaylistAt: '2025-03-01T11:59:58.000Z', lastSegmentAt: '2025-03-01T11:59:57.000Z', bytes: 12_900_000 }],
  },
  deviceLastFetch: { playlist: '2025-03-01T11:59:58.000Z', segment: '2025-03-01T11:59:57.000Z' },
});
const evening: SpecStatus = specStatus('evening', {
  device: 'Kitchen TV',
  phase: 'Scheduled',
  conditions: [cond('Valid', 'True', 'Parsed')],
  nextScheduleChange: '2025-03-01T18:00:00.000Z',
});
const office: SpecStatus = specStatus('office', {
  device: '192.168.1.30:8009',
  phase: 'Recovering',
  restarts: 5,
  conditions: [
    cond('Valid', 'True', 'Parsed'),
    cond('EncoderRunning', 'True', 'Running'),
    cond('DeviceConnected', 'False', 'ConnectFailed', 'connect ECONNREFUSED 192.168.1.30:8009; the device may be asleep or off the network for a while now'),
    cond('MediaPlaying', 'False', 'NotLoaded', 'waiting for the device'),
  ],
  lastDrift: { reason: 'SessionLost', at: '2025-03-01T11:59:00.000Z' },
  error: undefined,
});
const doorbell: SpecStatus = specStatus('doorbell', {
  source: { ephemeral: true, expiresAt: '2025-03-01T12:09:30.000Z' },
  phase: 'Preempted',
  priority: 100,
  conditions: [],
});
const broken: SpecStatus = specStatus('broken', {
  phase: 'Playing',
  suspended: true,
  conditions: [cond('Valid', 'False', 'Invalid', 'see error', '2025-03-01T11:10:00.000Z')],
  error: 'broken.yaml:12:5 spec.quality: expected 480p, 720p, 1080p or {width, height, fps}',
});

describe('formatStatusTable', () => {
  it('prints aligned columns, sorted by name, with ages relative to now', () => {
    expect(formatStatusTable([office, kitchen, evening, doorbell, broken], now)).toBe(
      [
        'NAME      DEVICE             PHASE                RESTARTS  ENCODER  FPS   LAST FETCH  AGE/NEXT       MESSAGE',
        'broken    Kitchen TV         Playing (suspended)  0         -        -     -           50m            broken.yaml:12:5 spec.quality: expected 480p, 720p, 1080p o…',
        'doorbell  Kitchen TV         Preempted            0         -        -     -           ends in 9m30s',
        'evening   Kitchen TV         Scheduled            0         -        -     -           in 6h',
        'kitchen   Kitchen TV         Playing              2         libx264  30.0  2s ago      1m30s          HardwareAcceleration: no VAAPI device; using libx264',
        'office    192.168.1.30:8009  Recovering           5         -        -     -           5m             DeviceConnected: connect ECONNREFUSED 192.168.1.30:8009; th…',
      ].join('\n'),
    );
  });

  it('says so when there is nothing', () => {
    expect(formatStatusTable([], now)).toBe('No specs.');
  });

  it('names each spec’s owner when the site has several instances (etcd)', () => {
    const lines = formatStatusTable([{ ...evening, owner: 'box-b' }, { ...kitchen, owner: 'box-a' }, doorbell], now).split('\n');
    expect(lines[0]).toMatch(/^NAME {6}OWNER {2}DEVICE/);
    expect(lines.slice(1).map((l) => l.split(/\s+/).slice(0, 2).join(' '))).toEqual(['doorbell -', 'evening box-b', 'kitchen box-a']);
    expect(formatStatusDetail({ ...kitchen, owner: 'box-a' }, now)).toMatch(/^Owner: +box-a$/m);
    expect(formatStatusDetail(kitchen, now)).not.toMatch(/^Owner/m);
  });
});

describe('mostRelevantMessage', () => {
  it('puts a file error first, then a device conflict, then the earliest failing condition', () => {
    expect(mostRelevantMessage(broken)).toMatch(/^broken\.yaml:12:5/);
    const conflict = specStatus('b', { conditions: [cond('MediaPlaying', 'False', 'X', 'm'), cond('DeviceConflict', 'True', 'EqualPriority', 'kitchen holds Kitchen TV at equal priority 0')] });
    expect(mostRelevantMessage(conflict)).toBe('kitchen holds Kitchen TV at equal priority 0');
    expect(mostRelevantMessage(office)).toMatch(/^DeviceConnected:/);
    expect(mostRelevantMessage(specStatus('ok'))).toBe('');
    expect(mostRelevantMessage(specStatus('w', { phase: 'Waiting', conditions: [], lastDrift: { reason: 'OtherApp', message: 'YouTube is playing', at: '2025-03-01T11:00:00.000Z' } }))).toBe(
      'OtherApp: YouTube is playing',
    );
  });
});

describe('a parked spec', () => {
  const parked = specStatus('night', {
    phase: 'Parked',
    conditions: [cond('DisplayReady', 'False', 'Parked', 'stream parked'), cond('Parked', 'True', 'Standby', 'the TV is in standby or on another input; stream stopped until it is back')],
    parked: {
      reason: 'Standby',
      message: 'the TV is in standby or on another input; stream stopped until it is back',
      since: '2025-03-01T09:02:00.000Z',
      awaySince: '2025-03-01T09:00:00.000Z',
      streamStopped: true,
    },
  });

  it('the table says why and for how long, not that the display is starting', () => {
    expect(mostRelevantMessage(parked, now)).toBe('the TV is in standby or on another input; stream stopped until it is back (away 3h)');
    const row = formatStatusTable([parked], now).split('\n')[1]!;
    expect(row).toMatch(/^night\s+.*\s+Parked\s+/);
    expect(row).toContain('the TV is in standby or on another input; stream stopped un…');
  });

  it('the detail gives the reason and both times', () => {
    const text = formatStatusDetail(parked, now);
    expect(text).toContain('Parked:          Standby: the TV is in standby or on another input; stream stopped until it is back');
    expect(text).toContain('Away since:      2025-03-01T09:00:00.000Z (3h ago)');
    expect(text).toContain('Parked since:    2025-03-01T09:02:00.000Z (2h58m ago)');
  });
});

describe('durations', () => {
  it('formats like kubectl', () => {
    expect([0, 45_000, 90_000, 600_000, 3_600_000, 7_980_000, 86_400_000 * 3 + 3_600_000 * 4].map(formatDuration)).toEqual(['0s', '45s', '1m30s', '10m', '1h', '2h13m', '3d4h']);
    expect(formatRelative('2025-03-01T11:59:57.000Z', now)).toBe('3s ago');
    expect(formatRelative('2025-03-01T14:00:00.000Z', now)).toBe('in 2h');
    expect(formatRelative('not a date', now)).toBe('-');
    expect(formatRelative(undefined, now)).toBe('-');
  });
});

describe('formatStatusDetail', () => {
  it('prints every field, the fetches and the conditions', () => {
    expect(formatStatusDetail(kitchen, now)).toBe(
      [
        'Name:             kitchen',
        'Source:           kitchen.yaml:3:1',
        'Device:           Kitchen TV',
        'URL:              https://ha.example/lovelace/kitchen?[redacted]',
        'Priority:         0',
        'Phase:            Playing',
        'Suspended:        no',
        'Generation:       abc123',
        'Restarts:         2',
        'Last drift:       -',
        'Next change:      -',
        'Device fetched:   playlist 2s ago, segment 3s ago',
        'Stream:           s-1a2b (shared with hall)',
        'Encoder:          libx264 (fallback: no VAAPI device)',
        'Encoder figures:  30.0 fps, speed 1.00x, 3 dropped, 1 duplicated, 2950 kbps, frame 53940 (1s ago)',
        'Capture:          x11grab: 30.0 frames/s captured, 4.6 encoded',
        'Fetches:',
        '  CLIENT        PLAYLIST  SEGMENT  BYTES',
        '  192.168.1.20  2s ago    3s ago   12.3 MiB',
        'Conditions:',
        '  TYPE                  STATUS  REASON    SINCE      MESSAGE',
        '  Valid                 True    Parsed    5m ago',
        '  MediaPlaying          True    Playing   1m30s ago',
        '  HardwareAcceleration  False   NoDevice  5m ago     no VAAPI device; using libx264',
      ].join('\n'),
    );
  });

  it('shows an ephemeral source, the file error and an empty condition list', () => {
    const text = formatStatusDetail({ ...doorbell, error: 'x.yaml:1:1 spec: bad' }, now);
    expect(text).toContain('Source:          ephemeral cast, ends 2025-03-01T12:09:30.000Z (in 9m30s)');
    expect(text).toContain('Error:           x.yaml:1:1 spec: bad');
    expect(text).toContain('Stream:          -');
    expect(text.endsWith('Conditions:\n  (none)')).toBe(true);
  });
});

describe('nothing reaches the terminal raw', () => {
  const hostile: SpecStatus = specStatus('kitchen', {
    device: 'TV\u001b[2J\u001b[H',
    error: 'k.yaml:3:1 first line\nk.yaml:4:1 second \u001b]0;pwned\u0007 line',
    lastDrift: { reason: 'OtherApp', message: 'another app took the device: Evil\u001b[31m\u202eTube\r', at: '2025-03-01T11:59:00.000Z' },
    conditions: [cond('MediaPlaying', 'False', 'OtherApp', 'another app: \u009b31mX\u2066')],
    stream: { id: 's', sharedWith: [], fetches: [{ client: '10.0.0.1\u0000', bytes: 1 }] },
  });
  const raw = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202e\u2066]/;

  it('the table escapes every cell', () => {
    const t = formatStatusTable([hostile], now);
    expect(t).not.toMatch(raw);
    expect(t.split('\n')).toHaveLength(2); // a newline in a message cannot forge a row
    expect(t).toContain('TV\\x1b[2J\\x1b[H');
  });

  it('the detail escapes every value and keeps a multi-line error readable', () => {
    const d = formatStatusDetail(hostile, now);
    expect(d).not.toMatch(raw);
    expect(d).toContain('Evil\\x1b[31m\\u202eTube\\x0d');
    expect(d).toMatch(/Error:\s+k\.yaml:3:1 first line\n\s+k\.yaml:4:1 second \\x1b\]0;pwned\\x07 line/);
    expect(d).toContain('10.0.0.1\\x00');
  });
});

describe('a spec with pages', () => {
  /** The clock time in this machine's zone, read another way than the formatter does. */
  const clock = (iso: string) => new Date(iso).toTimeString().slice(0, 8);
  const page: PageStatus = {
    index: 1,
    count: 3,
    url: 'https://grafana.example/d/power?[redacted]',
    since: '2025-03-01T11:59:50.000Z',
    nextSwitchAt: '2025-03-01T12:00:20.000Z',
    inRotation: [0, 1, 2],
    failed: [],
  };
  const board = specStatus('board', { url: '[3 pages]', conditions: [cond('Valid', 'True', 'Parsed'), cond('PagesReady', 'True', 'PagesShown', '3 pages, 3 in the rotation now')], page });

  it('one line: the page on screen, numbered from 0 as `pagecast page` takes it, and the failed pages', () => {
    expect(formatPage(page)).toBe(`page 1 (of 0–2) https://grafana.example/d/power?[redacted] since ${clock(page.since!)}, next ${clock(page.nextSwitchAt!)}`);
    const failed = { ...page, nextSwitchAt: undefined, failed: [{ index: 2, url: 'https://cam.example/door', error: 'HTTP 500' }] };
    expect(formatPage(failed)).toBe(`page 1 (of 0–2) https://grafana.example/d/power?[redacted] since ${clock(page.since!)}, no other page to show; failed: 2 https://cam.example/door (HTTP 500)`);
    expect(formatPage({ count: 3, inRotation: [0, 1, 2], failed: [] })).toBe('no page on screen yet (3 pages)');
  });

  it('the table shows the page when nothing is wrong, and a failed page before it', () => {
    expect(formatStatusTable([board], now).split('\n')[1]).toMatch(new RegExp(`\\s{2}page 1 \\(of 0–2\\), next ${clock(page.nextSwitchAt!)}: https://grafana\\.example/d/p…$`));
    const failing = specStatus('board', {
      conditions: [cond('PagesReady', 'False', 'PageFailed', 'page 2 (https://cam.example/door) failed: HTTP 500')],
      page: { ...page, failed: [{ index: 2, url: 'https://cam.example/door', error: 'HTTP 500' }] },
    });
    expect(formatStatusTable([failing], now).split('\n')[1]).toMatch(/\s{2}PagesReady: page 2 \(https:\/\/cam\.example\/door\) failed: HTTP …$/);
  });

  it('the detail gives the page, the pages out of their windows and each failed page on its own line', () => {
    expect(formatStatusDetail(board, now)).toContain(`\nPage:            page 1 (of 0–2) https://grafana.example/d/power?[redacted] since ${clock(page.since!)}, next ${clock(page.nextSwitchAt!)}\n`);
    const d = formatStatusDetail(
      {
        ...board,
        page: {
          ...page,
          inRotation: [1],
          failed: [
            { index: 0, url: 'https://a.example/', error: 'net::ERR_NAME_NOT_RESOLVED' },
            { index: 2, url: 'https://cam.example/door', error: 'HTTP 500' },
          ],
        },
      },
      now,
    );
    expect(d).toContain(`since ${clock(page.since!)}, next ${clock(page.nextSwitchAt!)} (in the rotation now: 1)\n`);
    expect(d).toContain('\nFailed pages:    0 https://a.example/ (net::ERR_NAME_NOT_RESOLVED)\n                 2 https://cam.example/door (HTTP 500)\n');
    expect(formatStatusDetail(kitchen, now)).not.toContain('Page:');
  });
});
