// Home Assistant's commands through the MQTT bridge, against a real broker and the controller
// with stand-in components: the switch, the button, the select, and input that is refused.
import { describe, expect, it } from 'vitest';
import { waitUntil } from '../../../helpers.js';
import { bridgeWorld, STATE } from './bridge-world.js';

describe('commands from Home Assistant', () => {
  const w = bridgeWorld();

  it('the switch suspends and resumes the spec', async () => {
    await w.ha.publish('pagecast/kitchen/enabled/set', 'OFF');
    await waitUntil(() => w.ctl.get('kitchen')?.phase === 'Suspended' && w.ha.json(STATE('kitchen'))?.enabled === false, 5000, 'kitchen suspended');
    await w.ha.publish('pagecast/kitchen/enabled/set', 'ON');
    await waitUntil(() => w.ctl.get('kitchen')?.phase === 'Playing' && w.ha.json(STATE('kitchen'))?.enabled === true && w.ha.json(STATE('kitchen'))?.phase === 'Playing', 5000, 'kitchen playing again');
  });

  it('the button casts again: a second LOAD at the device', async () => {
    const conn = w.c.castDriver.connectionTo('kitchen-tv')!;
    expect(conn.loads).toHaveLength(1);
    await w.ha.publish('pagecast/kitchen/cast_again/set', 'PRESS');
    await waitUntil(() => conn.loads.length === 2, 5000, 'a second LOAD');
    expect(conn.loads[1]!.url).toBe(conn.loads[0]!.url);
  });

  it('the select jumps to a page, and the state says so', async () => {
    await w.ha.publish('pagecast/board/page/set', '2');
    await waitUntil(() => w.c.log.rotations()[0]?.jumps.includes(2) && w.ha.json(STATE('board'))?.page === '2', 5000, 'page 2 on screen');
  });

  it('bad commands get a log line and change nothing', async () => {
    const conn = w.c.castDriver.connectionTo('kitchen-tv')!;
    await w.ha.publish('pagecast/kitchen/enabled/set', 'maybe');
    await w.ha.publish('pagecast/kitchen/cast_again/set', '{"press":true}');
    await w.ha.publish('pagecast/board/page/set', '7');
    await w.ha.publish('pagecast/kitchen/page/set', '0');
    await w.ha.publish('pagecast/nosuch/enabled/set', 'OFF');
    await w.ha.publish('pagecast/kitchen/reboot/set', 'PRESS');
    await waitUntil(() => w.logged.lines().filter((l) => /MQTT command|refused/.test(String(l.msg))).length >= 6, 5000, () => JSON.stringify(w.logged.lines().slice(-10)));
    const lines = w.logged.lines().map((l) => `${l.msg} ${l.reason ?? ''}`);
    expect(lines).toContain('MQTT command ignored expected ON or OFF, got "maybe"');
    expect(lines).toContain('MQTT command ignored expected PRESS, got "{\\"press\\":true}"');
    expect(lines).toContain('page from Home Assistant refused: no page 7 in board: pages are numbered from 0, so 0 to 2 range');
    expect(lines).toContain('page from Home Assistant refused: kitchen shows one URL, not pages: nothing to jump to no-pages');
    expect(lines).toContain('MQTT command for a spec this controller does not run: ignored ');
    expect(lines).toContain('MQTT command ignored no such command (expected one of enabled, cast_again, page)');
    expect(w.ctl.get('kitchen')).toMatchObject({ phase: 'Playing', suspended: false });
    expect(conn.loads).toHaveLength(1);
    expect(w.c.log.rotations()[0]!.jumps).toEqual([]);
  });
});
