// Commands from Home Assistant: only what the entities send is acted on.
import { describe, expect, it } from 'vitest';
import { parseCommand } from '../../../../controller/integrations/mqtt/commands.js';
import type { Topics } from '../../../../controller/integrations/mqtt/discovery.js';

const topics: Topics = { discoveryPrefix: 'homeassistant', base: 'pagecast', availability: 'pagecast/den/availability' };
const parse = (topic: string, payload: string | Buffer) => parseCommand(topics, topic, Buffer.isBuffer(payload) ? payload : Buffer.from(payload));

describe('parseCommand', () => {
  it('reads the switch, the button and the select', () => {
    expect(parse('pagecast/kitchen/enabled/set', 'OFF')).toEqual({ ok: true, command: { spec: 'kitchen', action: 'suspend' } });
    expect(parse('pagecast/kitchen/enabled/set', 'ON')).toEqual({ ok: true, command: { spec: 'kitchen', action: 'resume' } });
    expect(parse('pagecast/kitchen/cast_again/set', 'PRESS')).toEqual({ ok: true, command: { spec: 'kitchen', action: 'recast' } });
    expect(parse('pagecast/hall-2/page/set', '2')).toEqual({ ok: true, command: { spec: 'hall-2', action: 'showPage', index: 2 } });
  });

  it.each([
    ['pagecast/kitchen/enabled/set', 'on', 'expected ON or OFF, got "on"'],
    ['pagecast/kitchen/enabled/set', '', 'expected ON or OFF, got ""'],
    ['pagecast/kitchen/cast_again/set', 'press me', 'expected PRESS, got "press me"'],
    ['pagecast/kitchen/page/set', '-1', 'expected a page index (0, 1, …), got "-1"'],
    ['pagecast/kitchen/page/set', '1e3', 'expected a page index (0, 1, …), got "1e3"'],
    ['pagecast/kitchen/page/set', 'x'.repeat(65), 'payload of 65 bytes is too long'],
    ['pagecast/kitchen/volume/set', '1', 'no such command (expected one of enabled, cast_again, page)'],
    ['pagecast/Kitchen/enabled/set', 'ON', 'not a spec name'],
    ['pagecast/../enabled/set', 'ON', 'not a spec name'],
    ['pagecast/kitchen/enabled', 'ON', 'not a command topic (expected pagecast/SPEC/ENTITY/set)'],
    ['other/kitchen/enabled/set', 'ON', 'not a command topic (expected pagecast/SPEC/ENTITY/set)'],
  ])('refuses %s %j, saying why', (topic, payload, reason) => {
    expect(parse(topic, payload)).toMatchObject({ ok: false, reason });
  });

  it('refuses bytes that are not text without throwing', () => {
    expect(parse('pagecast/kitchen/page/set', Buffer.from([0xff, 0xfe, 0x00]))).toMatchObject({ ok: false });
  });
});
