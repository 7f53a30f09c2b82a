// Whether the reconcile loop is alive, for the service managers that restart a wedged process:
// systemd's watchdog (WATCHDOG=1 only while alive), /healthz (Kubernetes' liveness probe, the Home
// Assistant Supervisor's watchdog). A reconcile pass is synchronous and takes milliseconds, so a
// key that has waited for its pass far longer than that means the loop no longer turns (a worker
// lost, a pass that never returns) even though the event loop does and the timers still fire.
// Pure: the queue's oldest pending key and the time in, a verdict out.

/** How long a key may wait for its reconcile pass before the loop counts as stuck. */
export const RECONCILE_STUCK_MS = 60_000;

export type Liveness = { ok: true } | { ok: false; reason: string };

export function loopLiveness(o: { now: number; oldestPendingSince: number | undefined; stuckMs?: number }): Liveness {
  const limit = o.stuckMs ?? RECONCILE_STUCK_MS;
  if (o.oldestPendingSince === undefined) return { ok: true };
  const waited = o.now - o.oldestPendingSince;
  if (waited <= limit) return { ok: true };
  return { ok: false, reason: `a reconcile has been pending for ${Math.round(waited / 1000)} s (limit ${Math.round(limit / 1000)} s): the reconcile loop is stuck` };
}
