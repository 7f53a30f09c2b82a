// The dead-man switch's pure decisions: when silence is long enough to fire, which processes of a
// guarded group may be killed (the reaper's rules), and the line protocol's refusals.
import { describe, expect, it } from 'vitest';
import { deadManTimeoutForLease, deadManVerdict, heartbeatIntervalMs, killPlan, lineSplitter, parseControllerLine, parseDeadManLine, type Guard } from '../../../machines/processes/dead-man-rules.js';

describe('deadManVerdict', () => {
  it.each([
    // lastHeardAt, now, timeout → fire, silentMs, checkInMs
    [1000, 1000, 1000, false, 0, 1000],
    [1000, 1333, 1000, false, 333, 667],
    [1000, 1999, 1000, false, 999, 1],
    [1000, 2000, 1000, true, 1000, 0], // silent for exactly the timeout: fire
    [1000, 5000, 1000, true, 4000, 0], // a loop blocked far past the timeout
    [1000, 900, 1000, false, 0, 1000], // a clock read before the last line: no negative silence
  ])('heard at %d, now %d, timeout %d → fire %s', (lastHeardAt, now, timeoutMs, fire, silentMs, checkInMs) => {
    expect(deadManVerdict({ lastHeardAt, now, timeoutMs })).toEqual({ fire, silentMs, checkInMs });
  });

  it('beats every third of the timeout, so one late beat is not yet silence; ⅔ of a lease TTL', () => {
    expect(heartbeatIntervalMs(1000)).toBe(333);
    expect(heartbeatIntervalMs(2)).toBe(1);
    expect(deadManTimeoutForLease(3000)).toBe(2000);
    // Two beats may be lost before the third one's absence fires it.
    const interval = heartbeatIntervalMs(2000);
    expect(deadManVerdict({ lastHeardAt: 0, now: 2 * interval + 1, timeoutMs: 2000 }).fire).toBe(false);
  });
});

describe('killPlan: only what is provably ours', () => {
  const g: Guard = { pid: 500, pgid: 500, name: 'ffmpeg', startTime: 1000, command: 'ffmpeg' };
  const leader = { state: 'S', startTime: 1000, command: 'ffmpeg' };

  it('a live leader with the recorded start time and command: its whole group', () => {
    expect(killPlan(g, { leader })).toEqual({ kind: 'group', pgid: 500, pids: [500] });
  });

  it('a live leader in a group it does not lead: only the process itself', () => {
    expect(killPlan({ ...g, pgid: 400 }, { leader })).toEqual({ kind: 'pids', pids: [500], skipped: [] });
  });

  it.each([
    ['another start time (the pid was reused)', { ...leader, startTime: 2000 }, g, /another start time/],
    ['another command', { ...leader, command: 'bash' }, g, /runs bash, not ffmpeg/],
    ['no command recorded', leader, { ...g, command: undefined }, /no command was recorded/],
  ])('a live leader with %s: nothing, with why', (_what, l, guard, why) => {
    const plan = killPlan(guard, { leader: l });
    expect(plan.kind).toBe('none');
    expect(plan.kind === 'none' && plan.skipped).toEqual([{ pid: 500, why: expect.stringMatching(why) }]);
  });

  it('a gone (or zombie) leader: asks for the members, then kills only owner-marked ones started no earlier', () => {
    expect(killPlan(g, {})).toEqual({ kind: 'needMembers' });
    expect(killPlan(g, { leader: { ...leader, state: 'Z' } })).toEqual({ kind: 'needMembers' });
    const members = [
      { pid: 501, startTime: 1001, owner: true }, // our helper
      { pid: 502, startTime: 1001, owner: false }, // a stranger in a group whose id was reused
      { pid: 503, startTime: 999, owner: true }, // older than our child: cannot be its descendant
      { pid: 504, startTime: 1002, owner: undefined }, // environment unreadable
    ];
    const plan = killPlan(g, { members });
    expect(plan).toEqual({
      kind: 'pids',
      pids: [501],
      skipped: [
        { pid: 502, why: expect.stringMatching(/no owner token/) },
        { pid: 503, why: expect.stringMatching(/started before/) },
        { pid: 504, why: expect.stringMatching(/cannot be read/) },
      ],
    });
  });

  it('a gone leader of a group it did not lead: nothing (the group was never ours)', () => {
    expect(killPlan({ ...g, pgid: 400 }, {})).toEqual({ kind: 'none', skipped: [] });
  });
});

describe('the line protocol', () => {
  it('reads the controller’s messages', () => {
    expect(parseControllerLine('{"t":"beat"}')).toEqual({ ok: true, value: { t: 'beat' } });
    expect(parseControllerLine('{"t":"stop"}')).toEqual({ ok: true, value: { t: 'stop' } });
    expect(parseControllerLine('{"t":"unguard","pid":42}')).toEqual({ ok: true, value: { t: 'unguard', pid: 42 } });
    expect(parseControllerLine('{"t":"guard","guard":{"pid":42,"pgid":42,"name":"Xvfb","startTime":7,"command":"Xvfb","extra":1}}')).toEqual({
      ok: true,
      value: { t: 'guard', guard: { pid: 42, pgid: 42, name: 'Xvfb', startTime: 7, command: 'Xvfb' } },
    });
  });

  it.each([
    ['garbage', /not JSON: "garbage"/],
    ['[1,2]', /not a JSON object/],
    ['{"t":"dance"}', /unknown message type "dance"/],
    ['{"t":"guard"}', /missing the guard object/],
    // kill(-1) signals every process we may signal; kill(0) our own group.
    ['{"t":"guard","guard":{"pid":1,"pgid":1,"startTime":0}}', /pid must be an integer above 1, got 1/],
    ['{"t":"guard","guard":{"pid":42,"pgid":-1,"startTime":0}}', /guard 42: pgid must be an integer above 1, got -1/],
    ['{"t":"guard","guard":{"pid":42,"pgid":0,"startTime":0}}', /pgid must be an integer above 1, got 0/],
    ['{"t":"guard","guard":{"pid":42.5,"pgid":42,"startTime":0}}', /pid must be an integer above 1/],
    ['{"t":"guard","guard":{"pid":42,"pgid":42,"startTime":"x"}}', /startTime must be a non-negative integer/],
    ['{"t":"guard","guard":{"pid":42,"pgid":42,"startTime":1,"command":5}}', /command must be a string/],
    ['{"t":"unguard","pid":"42"}', /unguard: pid must be an integer above 1, got "42"/],
  ])('refuses %s with a clear error', (line, error) => {
    const r = parseControllerLine(line);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error).toMatch(error);
  });

  it('quotes at most 200 characters of a bad line', () => {
    const r = parseControllerLine('x'.repeat(5000));
    expect(!r.ok && r.error.length).toBeLessThan(260);
  });

  it('reads the dead-man’s messages', () => {
    expect(parseDeadManLine('{"t":"ready","pid":99}')).toEqual({ ok: true, value: { t: 'ready', pid: 99 } });
    const fired = { t: 'fired', silentMs: 1010, timeoutMs: 1000, groups: [{ pid: 5, pgid: 5, name: 'x', killed: [5], skipped: [] }] };
    expect(parseDeadManLine(JSON.stringify(fired))).toEqual({ ok: true, value: fired });
    expect(parseDeadManLine('{"t":"fired"}').ok).toBe(false);
  });

  it('splits a stream into lines across chunks, and cuts a runaway line', () => {
    const lines: string[] = [];
    const feed = lineSplitter((l) => lines.push(l), 10);
    feed('{"t":"be');
    feed('at"}\n\n{"t":"stop"}\nabc');
    expect(lines).toEqual(['{"t":"beat"}', '{"t":"stop"}']);
    feed('x'.repeat(20));
    expect(lines).toHaveLength(3);
    expect(lines[2]).toHaveLength(10);
  });
});

describe('the last will on the line protocol', () => {
  it('takes http(s) POSTs as alternatives and refuses anything else, naming the request', () => {
    const requests = [{ url: 'http://10.0.0.2:2379/v3/lease/revoke', body: '{"ID":"7"}' }, { url: 'https://etcd.lan/v3/lease/revoke', body: '{"ID":"7"}' }];
    expect(parseControllerLine(JSON.stringify({ t: 'will', requests }))).toEqual({ ok: true, value: { t: 'will', requests } });
    expect(parseControllerLine(JSON.stringify({ t: 'will', requests: [] }))).toEqual({ ok: true, value: { t: 'will', requests: [] } });
    expect(parseControllerLine(JSON.stringify({ t: 'will', requests: [{ url: 'file:///etc/passwd', body: '' }] }))).toMatchObject({ ok: false, error: 'will: request 0: url must be an http(s) URL of at most 4096 characters' });
    expect(parseControllerLine(JSON.stringify({ t: 'will', requests: [requests[0], { url: 'http://a/', body: 7 }] }))).toMatchObject({ ok: false, error: 'will: request 1: body must be a string of at most 4096 characters' });
    expect(parseControllerLine(JSON.stringify({ t: 'will', requests: 'http://a/' }))).toMatchObject({ ok: false, error: 'will: requests must be a list of at most 16' });
    expect(parseControllerLine(JSON.stringify({ t: 'will', requests: Array.from({ length: 17 }, () => requests[0]) }))).toMatchObject({ ok: false });
  });
});
