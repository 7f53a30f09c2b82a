// A spec with pages, through the controller with stand-in components: its status reads the
// rotation of the stream it holds, and showPage jumps in it.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Controller } from '../../controller/controller.js';
import { silentLogger } from '../../machines/log.js';
import { standInComponents, type StandInRotation, type StandIns } from '../stand-ins/components.js';
import { waitUntil } from '../helpers.js';

const board = (name: string, device: string) => `apiVersion: pagecast/v1
kind: CastSpec
metadata: { name: ${name} }
spec:
  device: ${device}
  pages:
    - url: https://grafana.example/d/power?auth=SECRET0
    - url: https://u:SECRET1@cam.example/door
      for: 10s
    - url: https://ha.example/k#token=SECRET2
  policy:
    backoff: { initial: 50ms, max: 200ms }
`;

describe('a spec with pages', () => {
  let dir: string;
  let state: string;
  let streams: string;
  let c: StandIns;
  let ctl: Controller;
  const rotation = (): StandInRotation => {
    const [r, more] = c.log.rotations();
    if (!r || more) throw new Error(`expected one rotating browser, found ${c.log.rotations().length}`);
    return r;
  };
  const noSecrets = () => {
    const text = JSON.stringify(ctl.list());
    for (const s of ['SECRET0', 'SECRET1', 'SECRET2', 'SECRET3']) expect(text).not.toContain(s);
  };

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pc-pages-'));
    state = mkdtempSync(join(tmpdir(), 'pc-pages-state-'));
    streams = mkdtempSync(join(tmpdir(), 'pc-pages-streams-'));
    c = standInComponents(streams);
    writeFileSync(join(dir, 'board.yaml'), board('board', 'TV A'));
    ctl = new Controller({ specsDir: dir, stateDir: state, components: c, log: silentLogger(), resyncMs: 60_000 });
    await ctl.start();
    await waitUntil(() => ctl.get('board')?.phase === 'Playing' && ctl.get('board')?.page, 5000, 'board playing');
  });
  afterEach(async () => {
    await ctl?.stop();
    for (const d of [dir, state, streams]) rmSync(d, { recursive: true, force: true });
  });

  it('status shows the page on screen from the rotation of its stream, redacted', () => {
    const s = ctl.get('board')!;
    expect(s.url).toBe('[3 pages]');
    const r = rotation();
    expect(s.page).toEqual({ index: 0, count: 3, url: 'https://grafana.example/d/power?[redacted]', since: r.since, nextSwitchAt: r.nextSwitchAt, inRotation: [0, 1, 2], failed: [] });
    expect(s.conditions.find((x) => x.type === 'PagesReady')).toMatchObject({ status: 'True', reason: 'PagesShown' });
    // A switch the browser makes by itself is what the next read shows.
    r.show(2);
    expect(ctl.get('board')!.page).toMatchObject({ index: 2, url: 'https://ha.example/k#[redacted]', since: r.since });
    noSecrets();
  });

  it('a page that failed is listed with its error and makes PagesReady False; loaded again, True', () => {
    rotation().fail(1, 'net::ERR_CONNECTION_REFUSED at https://u:SECRET1@cam.example/door?x=SECRET3');
    const s = ctl.get('board')!;
    expect(s.page!.failed).toEqual([{ index: 1, url: 'https://[redacted]@cam.example/door', error: 'net::ERR_CONNECTION_REFUSED at https://[redacted]@cam.example/door?[redacted]' }]);
    expect(s.conditions.find((x) => x.type === 'PagesReady')).toMatchObject({
      status: 'False',
      reason: 'PageFailed',
      message: 'page 1 (https://[redacted]@cam.example/door) failed: net::ERR_CONNECTION_REFUSED at https://[redacted]@cam.example/door?[redacted]',
    });
    noSecrets();
    rotation().set(1, 'ready');
    expect(ctl.get('board')!.page!.failed).toEqual([]);
    expect(ctl.get('board')!.conditions.find((x) => x.type === 'PagesReady')?.status).toBe('True');
  });

  it('showPage jumps and answers the rotation with the page on screen; refusals say why', async () => {
    const jumped = await ctl.showPage('board', 1);
    expect(jumped).toMatchObject({ ok: true, page: { index: 1, url: 'https://[redacted]@cam.example/door' } });
    expect(rotation().jumps).toEqual([1]);
    expect(await ctl.showPage('board', 3)).toEqual({ ok: false, reason: 'range', message: 'no page 3 in board: pages are numbered from 0, so 0 to 2' });
    expect(await ctl.showPage('board', 0.5)).toMatchObject({ ok: false, reason: 'range' });
    expect(await ctl.showPage('nope', 0)).toEqual({ ok: false, reason: 'unknown', message: 'no spec named "nope"' });
    await ctl.suspend('board');
    await waitUntil(() => c.log.rotations().length === 0, 5000, 'board stopped');
    expect(await ctl.showPage('board', 0)).toEqual({ ok: false, reason: 'not-playing', message: 'board is not playing (phase Suspended; its stream is not running): no page to jump to' });
  });

  it('specs with the same pages share one stream: a jump shows on both', async () => {
    writeFileSync(join(dir, 'hall.yaml'), board('hall', 'TV B'));
    await waitUntil(() => ctl.get('hall')?.phase === 'Playing' && ctl.get('hall')?.page, 5000, 'hall playing');
    expect(ctl.get('hall')!.stream!.sharedWith).toEqual(['board']);
    expect((await ctl.showPage('hall', 2)).ok).toBe(true);
    expect(rotation().jumps).toEqual([2]);
    expect([ctl.get('board')!.page!.index, ctl.get('hall')!.page!.index]).toEqual([2, 2]);
  });

  it('an edit of the rotation alone is taken live: same stream, no new LOAD, no re-render', async () => {
    const conn = c.castDriver.connectionTo('tv-a')!;
    expect(conn.loads).toHaveLength(1);
    const encoders = () => c.log.events.filter((e) => e.startsWith('start encoder')).length;
    const before = { stream: ctl.get('board')!.stream!.id, encoders: encoders() };
    // Pages reordered, one duration changed: the rotation only.
    writeFileSync(join(dir, 'board.yaml'), board('board', 'TV A').replace('      for: 10s\n', '').replace('    - url: https://ha.example/k#token=SECRET2\n', '    - url: https://ha.example/k#token=SECRET2\n      for: 45s\n'));
    await waitUntil(() => rotation().updates.length === 1, 5000, 'the pages taken live');
    expect(rotation().updates[0]!.map((p) => p.for)).toEqual([30_000, 30_000, 45_000]);
    await waitUntil(() => ctl.get('board')?.generation !== undefined && ctl.get('board')!.conditions.every((x) => x.type !== 'Valid' || x.status === 'True'), 5000, 'the edit applied');
    expect(ctl.get('board')!.stream!.id).toBe(before.stream);
    expect(encoders()).toBe(before.encoders);
    expect(conn.loads).toHaveLength(1);
    // Another quality is a new render: a new stream, and the TV is given its URL.
    writeFileSync(join(dir, 'board.yaml'), board('board', 'TV A').replace('  pages:', '  quality: 480p\n  pages:'));
    await waitUntil(() => conn.loads.length === 2, 5000, 'a LOAD of the new stream');
    expect(ctl.get('board')!.stream!.id).not.toBe(before.stream);
  });

  it('a stream shared with another spec is not changed under it: the edited spec gets a stream of its own', async () => {
    writeFileSync(join(dir, 'hall.yaml'), board('hall', 'TV B'));
    await waitUntil(() => ctl.get('hall')?.phase === 'Playing' && ctl.get('hall')?.page, 5000, 'hall playing');
    const shared = ctl.get('board')!.stream!.id;
    writeFileSync(join(dir, 'hall.yaml'), board('hall', 'TV B').replace('      for: 10s\n', '      for: 20s\n'));
    await waitUntil(() => ctl.get('hall')!.stream?.id !== shared && ctl.get('hall')?.phase === 'Playing', 5000, 'hall on a stream of its own');
    expect(ctl.get('board')!.stream!.id).toBe(shared);
    expect(c.log.rotations().every((r) => r.updates.length === 0)).toBe(true);
    expect(c.castDriver.connectionTo('tv-b')!.loads).toHaveLength(2);
    expect(c.castDriver.connectionTo('tv-a')!.loads).toHaveLength(1);
  });
});
