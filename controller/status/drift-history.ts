// The drifts of each spec as they happened: status keeps only the last one, the console shows the
// list. Fed with each spec's lastDrift whenever its status may have changed; a drift is told apart
// from the one before by its reason and time.
import type { DriftRecord } from './types.js';

export class DriftHistory {
  private readonly bySpec = new Map<string, DriftRecord[]>();

  constructor(private readonly keep = 50) {}

  /** Adds `drift` unless it is the one last added for this spec. */
  observe(spec: string, drift: DriftRecord | undefined): void {
    if (!drift) return;
    let list = this.bySpec.get(spec);
    const last = list?.[list.length - 1];
    if (last && last.reason === drift.reason && last.at === drift.at) return;
    if (!list) this.bySpec.set(spec, (list = []));
    list.push({ reason: drift.reason, ...(drift.message !== undefined ? { message: drift.message } : {}), at: drift.at });
    if (list.length > this.keep) list.splice(0, list.length - this.keep);
  }

  of(spec: string): DriftRecord[] {
    return [...(this.bySpec.get(spec) ?? [])];
  }

  forget(spec: string): void {
    this.bySpec.delete(spec);
  }
}
