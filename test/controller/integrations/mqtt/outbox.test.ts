// The bridge's queue: bounded, newest per key, a few messages in flight, never waiting.
import { describe, expect, it } from 'vitest';
import { Outbox, type Message } from '../../../../controller/integrations/mqtt/outbox.js';

const msg = (topic: string, payload = topic): Message => ({ topic, payload, retain: true, qos: 0 });

describe('Outbox', () => {
  it('holds messages while closed, the newest per topic, in the order last put', () => {
    const box = new Outbox({ limit: 10, inflight: 100, onDrop: () => {} });
    box.put(msg('a', 'a1'));
    box.put(msg('b'));
    box.put(msg('a', 'a2'));
    const sent: string[] = [];
    box.open((m, done) => {
      sent.push(m.payload);
      done();
    });
    expect(sent).toEqual(['b', 'a2']);
    expect(box.size).toBe(0);
  });

  it('drops the oldest beyond its limit, and says so', () => {
    const dropped: string[] = [];
    const box = new Outbox({ limit: 2, inflight: 1, onDrop: (m) => dropped.push(m.topic) });
    for (const t of ['a', 'b', 'c']) box.put(msg(t));
    expect(dropped).toEqual(['a']);
    expect(box.size).toBe(2);
  });

  it('hands out at most `inflight` at once; a slow broker’s backlog waits in the box', () => {
    const box = new Outbox({ limit: 100, inflight: 2, onDrop: () => {} });
    const waiting: Array<() => void> = [];
    box.open((_m, done) => waiting.push(() => done()));
    for (let i = 0; i < 5; i++) box.put(msg(`t${i}`));
    expect(waiting).toHaveLength(2);
    expect(box.size).toBe(3);
    waiting[0]!();
    expect(waiting).toHaveLength(3);
  });

  it('after a close, a late callback from the old connection changes nothing', () => {
    const box = new Outbox({ limit: 100, inflight: 1, onDrop: () => {} });
    const old: Array<() => void> = [];
    box.open((_m, done) => old.push(() => done()));
    box.put(msg('a'));
    box.close();
    box.put(msg('b'));
    const sent: string[] = [];
    box.open((m, done) => {
      sent.push(m.topic);
      done();
    });
    old[0]!();
    box.put(msg('c'));
    expect(sent).toEqual(['b', 'c']);
  });
});
