// The proof-of-play file as the soak reads it, on its own (not through pagecast's reader), so the
// cross-check means something: `open` checkpoints and `close` records in play.jsonl and its
// rotations, merged into intervals of play per spec.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface PlayInterval {
  spec: string;
  device: string;
  start: number;
  end: number;
  reason: string;
}

/** Every interval in the state directory's play files; one still open ends at `now`. */
export function readPlayIntervals(stateDir: string, now: number): PlayInterval[] {
  if (!existsSync(stateDir)) return [];
  const files = readdirSync(stateDir)
    .filter((f) => /^play(\.\d+)?\.jsonl$/.test(f))
    .sort((a, b) => rank(b) - rank(a)); // oldest (highest number) first, play.jsonl last
  const open = new Map<string, { spec: string; device: string; start: number; at: number }>();
  const out: PlayInterval[] = [];
  for (const f of files) {
    for (const line of readFileSync(join(stateDir, f), 'utf8').split('\n')) {
      if (line.trim() === '') continue;
      let r: { type?: string; spec?: string; device?: string; start?: string; at?: string; end?: string; reason?: string };
      try {
        r = JSON.parse(line) as typeof r;
      } catch {
        continue; // half written by a kill
      }
      if (!r.spec || !r.start) continue;
      const key = `${r.spec}|${r.device}|${r.start}`;
      if (r.type === 'open') open.set(key, { spec: r.spec, device: r.device ?? '', start: Date.parse(r.start), at: Date.parse(r.at ?? r.start) });
      else if (r.type === 'close') {
        open.delete(key);
        out.push({ spec: r.spec, device: r.device ?? '', start: Date.parse(r.start), end: Date.parse(r.end ?? r.start), reason: r.reason ?? '' });
      }
    }
  }
  // Still open: the newest one of a spec may still be running; older ones died with a controller.
  for (const o of open.values()) out.push({ spec: o.spec, device: o.device, start: o.start, end: o.at, reason: 'ControllerDied' });
  return out.map((i) => (i.reason === 'ControllerDied' && i.end < i.start ? { ...i, end: i.start } : i)).map((i) => ({ ...i, end: Math.min(i.end, now) }));
}

function rank(f: string): number {
  const m = /^play\.(\d+)\.jsonl$/.exec(f);
  return m ? Number(m[1]) : 0;
}
