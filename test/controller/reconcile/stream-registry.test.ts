// The stream registry with stand-in components: one stream per render input, refcounted by its
// holders, parked while every holder's device is away and resumed when the first is back.
import { existsSync, mkdirSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { StreamRegistry } from '../../../controller/reconcile/stream-registry.js';
import type { StreamNotice } from '../../../machines/spec-machine.js';
import { silentLogger } from '../../../machines/log.js';
import { CastSpecSchema } from '../../../specs/schema.js';
import { standInComponents } from '../../stand-ins/components.js';
import { tempDirs, waitUntil } from '../../helpers.js';

const temps = tempDirs();
afterEach(() => temps.removeAll());

const spec = CastSpecSchema.parse({
  apiVersion: 'pagecast/v1',
  kind: 'CastSpec',
  metadata: { name: 'kitchen' },
  spec: { device: 'Kitchen TV', url: 'https://ha.example/board' },
});

function setup() {
  const c = standInComponents(temps.make('pc-sr-'));
  const registry = new StreamRegistry({ components: c, log: silentLogger() });
  const notices: Array<[string, StreamNotice['type']]> = [];
  const hold = (holder: string) => registry.acquire(spec, holder, (n) => notices.push([holder, n.type]));
  const running = () => c.log.running('display').length + c.log.running('browser').length + c.log.running('encoder').length;
  return { c, registry, notices, hold, running };
}

describe('stream registry: parking', () => {
  it('a shared stream runs while any holder is present; parks when all are away; resumes on the first back', async () => {
    const { c, registry, notices, hold, running } = setup();
    const a = hold('kitchen');
    const b = hold('hall');
    expect(b.streamId).toBe(a.streamId);
    await waitUntil(() => a.servable(), 2000, 'servable');
    const actor = registry.get(a.streamId)!.actor;
    const dir = actor.getSnapshot().context.dir;
    mkdirSync(dir, { recursive: true }); // as the encoder would have

    registry.park(a, 'kitchen', true);
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    expect(actor.getSnapshot().matches('running')).toBe(true);
    expect(running()).toBe(3);

    registry.park(b, 'hall', true);
    expect(actor.getSnapshot().matches('parked')).toBe(true);
    expect(a.servable()).toBe(false);
    await waitUntil(() => running() === 0, 2000, 'every process stopped');
    // The URL the devices were given stays good: publication and directory are kept.
    expect(c.publisher.published.has(a.streamId)).toBe(true);
    expect(existsSync(dir)).toBe(true);

    notices.length = 0;
    registry.park(b, 'hall', false);
    await waitUntil(() => a.servable() && running() === 3, 2000, 'servable again');
    await waitUntil(() => notices.length === 2, 2000, 'both holders told');
    expect(notices.sort()).toEqual([['hall', 'servable'], ['kitchen', 'servable']]);
    await registry.stopAll();
  });

  it('a new holder resumes a parked stream; the last release of a parked stream removes it', async () => {
    const { c, registry, hold, running } = setup();
    const a = hold('kitchen');
    await waitUntil(() => a.servable(), 2000, 'servable');
    registry.park(a, 'kitchen', true);
    await waitUntil(() => running() === 0, 2000, 'parked');
    const b = hold('hall');
    await waitUntil(() => b.servable() && running() === 3, 2000, 'resumed for the new holder');
    // The one present holder goes: the rest are away, so the stream parks again.
    registry.release(b, 'hall');
    await waitUntil(() => running() === 0 && registry.get(a.streamId)!.actor.getSnapshot().matches('parked'), 2000, 'parked again');
    registry.release(a, 'kitchen');
    await waitUntil(() => registry.size === 0, 2000, 'removed');
    expect(c.publisher.published.size).toBe(0);
  });

  it('parking an unknown holder or an already parked one changes nothing', async () => {
    const { registry, hold, running } = setup();
    const a = hold('kitchen');
    await waitUntil(() => a.servable(), 2000, 'servable');
    registry.park(a, 'nobody', true);
    expect(registry.get(a.streamId)!.actor.getSnapshot().matches('running')).toBe(true);
    registry.park(a, 'kitchen', false); // not parked: nothing to resume
    expect(running()).toBe(3);
    await registry.stopAll();
    expect(running()).toBe(0);
  });
});
