import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { LogTail } from '../../../controller/status/log-tail.js';
import { createLogger } from '../../../machines/log.js';

const line = (o: Record<string, unknown>) => `${JSON.stringify({ level: 30, time: '2025-01-01T10:00:00.000Z', ...o })}\n`;

describe('LogTail', () => {
  it('keeps the lines naming a spec or a stream, redacted, in a ring per name', () => {
    const tail = new LogTail({ perKey: 3 });
    tail.record(line({ msg: 'unrelated' }));
    for (let i = 0; i < 5; i++) tail.record(line({ spec: 'kitchen', component: 'cast', msg: `line ${i} from https://ha.example/x?token=SECRET`, time: `2025-01-01T10:00:0${i}.000Z` }));
    const got = tail.lines('kitchen');
    expect(got.map((l) => l.msg)).toEqual(['line 2 from https://ha.example/x?[redacted]', 'line 3 from https://ha.example/x?[redacted]', 'line 4 from https://ha.example/x?[redacted]']);
    expect(got[0]).toMatchObject({ level: 'info', component: 'cast', time: '2025-01-01T10:00:02.000Z' });
    expect(tail.lines('garage')).toEqual([]);
  });

  it("merges a spec's lines with its stream's, by time, each once", () => {
    const tail = new LogTail();
    tail.record(line({ spec: 'kitchen', msg: 'a', time: '2025-01-01T10:00:01.000Z' }));
    tail.record(line({ stream: 's-1', msg: 'b', level: 40, reason: 'exited', time: '2025-01-01T10:00:02.000Z' }));
    tail.record(line({ spec: 'kitchen', stream: 's-1', msg: 'c', time: '2025-01-01T10:00:03.000Z' }));
    const got = tail.lines('kitchen', 's-1');
    expect(got.map((l) => l.msg)).toEqual(['a', 'b', 'c']);
    expect(got[1]).toMatchObject({ level: 'warn', fields: '{"reason":"exited"}' });
  });

  it('forgets the oldest name first beyond maxKeys; skips lines that are not JSON', () => {
    const tail = new LogTail({ maxKeys: 2 });
    tail.record('{"spec": broken\n');
    for (const s of ['a', 'b', 'c']) tail.record(line({ spec: s, msg: s }));
    expect(tail.lines('a')).toEqual([]);
    expect(tail.lines('c')).toHaveLength(1);
  });

  it('tees a real logger: children log to the tail and to the destination, unchanged', () => {
    const written: string[] = [];
    const log = createLogger({ level: 'info', destination: new Writable({ write: (c, _e, cb) => (written.push(String(c)), cb()) }) });
    const tail = new LogTail();
    const before = log.child({ spec: 'kitchen' });
    tail.attach(log);
    before.info({ url: 'https://x.example/?k=1' }, 'made before the tee');
    log.child({ spec: 'kitchen' }).child({ component: 'encoder' }).warn('encoder slow');
    log.info('no spec');
    expect(tail.lines('kitchen').map((l) => l.msg)).toEqual(['made before the tee', 'encoder slow']);
    expect(tail.lines('kitchen')[0]!.fields).toBe('{"url":"[redacted]"}');
    expect(written).toHaveLength(3);
    expect(JSON.parse(written[1]!)).toMatchObject({ spec: 'kitchen', component: 'encoder', msg: 'encoder slow' });
  });

  it('attached again, the new tail replaces the old one and each line is written once', () => {
    const written: string[] = [];
    const log = createLogger({ level: 'info', destination: new Writable({ write: (c, _e, cb) => (written.push(String(c)), cb()) }) });
    const first = new LogTail();
    const second = new LogTail();
    first.attach(log);
    second.attach(log);
    log.child({ spec: 'kitchen' }).info('once');
    expect(written).toHaveLength(1);
    expect(first.lines('kitchen')).toEqual([]);
    expect(second.lines('kitchen').map((l) => l.msg)).toEqual(['once']);
  });
});
