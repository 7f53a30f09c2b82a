// What the soak expects of the controller at any moment: which spec should play on each device,
// from which specs exist, which are suspended and which ephemeral cast holds a device.
import { SPECS, type SpecDef, type SpecVersion } from './world.js';

export const EPHEMERAL_PRIORITY = 100;

export class Model {
  readonly present = new Set(SPECS.map((s) => s.name));
  readonly suspended = new Set<string>();
  /** device → the ephemeral cast's name */
  readonly ephemeral = new Map<number, string>();
  readonly versions = new Map<string, SpecVersion>(SPECS.map((s) => [s.name, { rev: 0 }]));
  /** Specs and devices a fault is working on: another fault picks other targets. */
  readonly busySpecs = new Set<string>();
  readonly busyDevices = new Set<number>();

  def(name: string): SpecDef {
    const d = SPECS.find((s) => s.name === name);
    if (!d) throw new Error(`no spec ${name}`);
    return d;
  }

  /** The name of what should play on `device`, or undefined when nothing should. */
  winner(device: number): string | undefined {
    const eph = this.ephemeral.get(device);
    if (eph) return eph;
    const candidates = SPECS.filter((s) => s.device === device && this.present.has(s.name) && !this.suspended.has(s.name));
    candidates.sort((a, b) => b.priority - a.priority);
    return candidates[0]?.name;
  }

  /** The phase each spec on `device` should show: Playing for the winner, else why not. */
  expectedPhases(device: number): Map<string, 'Playing' | 'Suspended' | 'NotPlaying'> {
    const out = new Map<string, 'Playing' | 'Suspended' | 'NotPlaying'>();
    const w = this.winner(device);
    for (const s of SPECS) {
      if (s.device !== device || !this.present.has(s.name)) continue;
      out.set(s.name, this.suspended.has(s.name) ? 'Suspended' : s.name === w ? 'Playing' : 'NotPlaying');
    }
    const eph = this.ephemeral.get(device);
    if (eph) out.set(eph, 'Playing');
    return out;
  }

  /** Distinct streams the winners need: specs with the same page and mode share one. */
  streamsNeeded(devices: number): number {
    const keys = new Set<string>();
    for (let d = 0; d < devices; d++) {
      const w = this.winner(d);
      if (!w) continue;
      if (this.ephemeral.get(d) === w) keys.add(`eph:${w}`);
      else {
        const s = this.def(w);
        keys.add(`${s.page}:${s.mode}`);
      }
    }
    return keys.size;
  }
}
