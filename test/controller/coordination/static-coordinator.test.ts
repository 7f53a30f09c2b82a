import { describe, expect, it } from 'vitest';
import { StaticCoordinator } from '../../../controller/coordination/coordinator.js';

describe('StaticCoordinator (one box: every candidate is ours)', () => {
  it('owns exactly its candidates and says so when they change', async () => {
    const c = new StaticCoordinator('box');
    await c.start();
    const changes: string[][] = [];
    const off = c.onChange((names) => changes.push(names));
    c.setCandidates(['b', 'a']);
    expect(c.owns('a') && c.owns('b')).toBe(true);
    expect(c.owns('c')).toBe(false);
    expect(c.ownerOf('a')).toBe('box');
    expect(c.ownerOf('c')).toBeUndefined();
    c.setCandidates(['b', 'c']);
    c.setCandidates(['c', 'b']); // no change, no event
    expect(changes).toEqual([['a', 'b'], ['a', 'c']]);
    off();
    c.setCandidates([]);
    expect(changes).toHaveLength(2);
    expect(c.health()).toEqual({ fenced: false });
  });

  it('keeps the status of what it owns, for the site view', async () => {
    const c = new StaticCoordinator();
    c.setCandidates(['kitchen', 'hall']);
    expect(await c.publishStatus('kitchen', { phase: 'Playing' })).toBe(true);
    expect(await c.publishStatus('garage', { phase: 'Playing' })).toBe(false);
    const site = await c.siteStatus();
    expect(site.map((s) => [s.name, s.owner, s.status])).toEqual([
      ['hall', 'local', undefined],
      ['kitchen', 'local', { phase: 'Playing' }],
    ]);
    c.setCandidates(['hall']);
    expect((await c.siteStatus()).map((s) => s.name)).toEqual(['hall']);
  });

  it('owns nothing after stop, and tells its listeners', async () => {
    const c = new StaticCoordinator();
    c.setCandidates(['a']);
    const changes: string[][] = [];
    c.onChange((names) => changes.push(names));
    await c.stop();
    expect(c.owns('a')).toBe(false);
    expect(changes).toEqual([['a']]);
  });
});
