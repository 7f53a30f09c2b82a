// The controller is a long-running daemon, often on a small machine (a Raspberry Pi, a NUC shared
// with Home Assistant). V8's default heap sizing favours throughput and keeps the heap it grew at
// start-up (converging 1,000 specs) for good. So the start runs with the defaults (fast), and once
// the first reconcile is done V8 is told to optimise for size, which gives that heap back.
// Measured by bench/reconcile: RSS after converging 1,000 specs ~120 MB instead of ~235 MB, with
// the cold converge as fast as with the defaults (turned on from the start it was ~50 % slower).
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let tuned = false;

/** Called once the first reconcile is done, by `pagecast run` (and by bench/reconcile, which stands for it). */
export function tuneHeapForDaemon(): void {
  if (tuned || process.env.PAGECAST_V8_DEFAULTS === '1') return;
  tuned = true;
  setFlagsFromString('--optimize-for-size');
  // One full collection now, under the new sizing, hands back what the start-up grew; without it
  // V8 may keep that heap until some later idle period, or for good.
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as (() => void) | undefined;
  gc?.();
}
