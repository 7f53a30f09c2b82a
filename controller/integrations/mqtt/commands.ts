// Commands from Home Assistant, checked before anything is done: a topic that is not one of ours
// or a payload that is not what the entity sends is refused with a reason, never acted on.
import { Metadata } from '../../../specs/schema.js';
import { COMMAND_ENTITIES, PRESS, type CommandEntity, type Topics } from './discovery.js';

export type Command =
  | { spec: string; action: 'suspend' | 'resume' | 'recast' }
  | { spec: string; action: 'showPage'; index: number };

export type ParsedCommand = { ok: true; command: Command } | { ok: false; spec?: string; entity?: string; reason: string };

/** Longer than any payload the entities send; anything bigger is refused unread. */
export const MAX_COMMAND_BYTES = 64;

/** Reads `<base>/<spec>/<entity>/set` and its payload into a command, or says why not. */
export function parseCommand(t: Topics, topic: string, payload: Buffer): ParsedCommand {
  const prefix = `${t.base}/`;
  const parts = topic.startsWith(prefix) ? topic.slice(prefix.length).split('/') : [];
  if (parts.length !== 3 || parts[2] !== 'set') return { ok: false, reason: `not a command topic (expected ${t.base}/SPEC/ENTITY/set)` };
  const [spec, entity] = parts as [string, string];
  if (!Metadata.shape.name.safeParse(spec).success) return { ok: false, reason: 'not a spec name' };
  if (!(COMMAND_ENTITIES as readonly string[]).includes(entity)) {
    return { ok: false, spec, entity, reason: `no such command (expected one of ${COMMAND_ENTITIES.join(', ')})` };
  }
  if (payload.length > MAX_COMMAND_BYTES) return { ok: false, spec, entity, reason: `payload of ${payload.length} bytes is too long` };
  const text = payload.toString('utf8').trim();
  const shown = JSON.stringify(text);
  switch (entity as CommandEntity) {
    case 'enabled':
      if (text === 'ON') return { ok: true, command: { spec, action: 'resume' } };
      if (text === 'OFF') return { ok: true, command: { spec, action: 'suspend' } };
      return { ok: false, spec, entity, reason: `expected ON or OFF, got ${shown}` };
    case 'cast_again':
      if (text === PRESS) return { ok: true, command: { spec, action: 'recast' } };
      return { ok: false, spec, entity, reason: `expected ${PRESS}, got ${shown}` };
    case 'page': {
      if (!/^\d{1,3}$/.test(text)) return { ok: false, spec, entity, reason: `expected a page index (0, 1, …), got ${shown}` };
      return { ok: true, command: { spec, action: 'showPage', index: Number(text) } };
    }
  }
}
