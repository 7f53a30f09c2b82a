// The spec actors with stand-in components: onChange is told of every snapshot of a spec's actor
// and of the cast it holds now, the cast that replaces it after a device change included.
import { afterEach, describe, expect, it } from 'vitest';
import { SpecActors } from '../../../controller/reconcile/spec-actors.js';
import { StreamRegistry } from '../../../controller/reconcile/stream-registry.js';
import { silentLogger } from '../../../machines/log.js';
import { CastSpecSchema, type CastSpec } from '../../../specs/schema.js';
import { standInComponents } from '../../stand-ins/components.js';
import { tempDirs, waitUntil } from '../../helpers.js';

const temps = tempDirs();
const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
  temps.removeAll();
});

const specOn = (device: string): CastSpec =>
  CastSpecSchema.parse({ apiVersion: 'pagecast/v1', kind: 'CastSpec', metadata: { name: 'kitchen' }, spec: { device, url: 'https://ha.example/board' } });

function setup() {
  const components = standInComponents(temps.make('pc-sa-'));
  const log = silentLogger();
  const leases = new StreamRegistry({ components, log });
  /** The cast's state each time onChange was called, in order. */
  const seen: string[] = [];
  const actors: SpecActors = new SpecActors({
    components,
    leases,
    log,
    now: Date.now,
    onStopped: () => undefined,
    onChange: () => seen.push(castState()),
  });
  const castState = () => JSON.stringify(actors.get('kitchen')?.getSnapshot().children.cast?.getSnapshot().value ?? null);
  stops.push(async () => {
    await actors.stopAll();
    await leases.stopAll();
  });
  return { actors, seen, castState };
}

describe('spec actors: onChange', () => {
  it('is told of the cast’s own steps, not only of the spec actor’s', async () => {
    const { actors, seen, castState } = setup();
    const spec = specOn('Kitchen TV');
    actors.execute([{ type: 'start', name: 'kitchen', desired: { name: 'kitchen', spec, generation: 'g1', suspended: false }, assignment: { role: 'play' } }]);
    await waitUntil(() => castState().includes('playing'), 5000, 'playing');
    // resolving → connecting changes nothing in the spec actor: only a watch on the cast sees it.
    expect(seen).toContain('"connecting"');
    expect(seen.at(-1)).toContain('playing');
  });

  it('follows the new cast after a device change replaces the old one', async () => {
    const { actors, seen, castState } = setup();
    const first = specOn('Kitchen TV');
    actors.execute([{ type: 'start', name: 'kitchen', desired: { name: 'kitchen', spec: first, generation: 'g1', suspended: false }, assignment: { role: 'play' } }]);
    await waitUntil(() => castState().includes('playing'), 5000, 'first cast playing');
    const firstCast = actors.get('kitchen')!.getSnapshot().children.cast;
    seen.length = 0;
    const second = specOn('Hall TV');
    actors.execute([
      {
        type: 'update',
        name: 'kitchen',
        desired: { name: 'kitchen', spec: second, generation: 'g2', suspended: false },
        assignment: { role: 'play' },
        changes: { stream: false, cast: true, live: false },
      },
    ]);
    await waitUntil(() => actors.get('kitchen')!.getSnapshot().children.cast !== firstCast && castState().includes('playing'), 5000, 'second cast playing');
    expect(seen).toContain('"connecting"');
    expect(seen.at(-1)).toContain('playing');
  });
});
