// What /proc says about a process: its state, group, start time, command and owner token. Only
// node builtins here: the dead-man switch's child process loads this file, and nothing heavier,
// so that it starts fast and stays small (see dead-man-child.ts).
import { readFileSync, readdirSync } from 'node:fs';
import { basename } from 'node:path';

/** The environment variable that marks a child, and everything it starts, as this run's. */
export const OWNER_ENV = 'PAGECAST_OWNER';

export interface Stat {
  state: string;
  pgid: number;
  startTime: number;
  utime: number;
  stime: number;
}

/** argv[0]'s basename of a live process, or undefined (gone, a zombie, or not readable). */
export function processCommand(pid: number): string | undefined {
  try {
    const argv0 = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0];
    return argv0 ? basename(argv0) : undefined;
  } catch {
    return undefined;
  }
}

/** Whether the process's environment holds OWNER_ENV=owner; undefined when it cannot be read. */
export function carriesOwner(pid: number, owner: string): boolean | undefined {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`${OWNER_ENV}=${owner}`);
  } catch {
    return undefined;
  }
}

/** Start time of a process in clock ticks since boot, or undefined when it does not exist. */
export function processStartTime(pid: number): number | undefined {
  const stat = readStat(pid);
  return stat?.startTime;
}

/** Fields of /proc/<pid>/stat; the command name may hold spaces and parentheses, so split after the last ')'. */
export function parseStat(text: string): Stat | undefined {
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  const f = text.slice(close + 2).trim().split(/\s+/); // f[0] is field 3 (state)
  const field = (n: number) => Number(f[n - 3]);
  const stat = { state: f[0] ?? '?', pgid: field(5), utime: field(14), stime: field(15), startTime: field(22) };
  return Number.isFinite(stat.startTime) && Number.isFinite(stat.pgid) ? stat : undefined;
}

export function readStat(pid: number): Stat | undefined {
  try {
    return parseStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** Live (not zombie) pids whose process group is `pgid`. */
export function groupMembers(pgid: number): Array<{ pid: number; startTime: number }> {
  const out: Array<{ pid: number; startTime: number }> = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    const s = readStat(Number(e));
    if (s && s.pgid === pgid && s.state !== 'Z' && s.state !== 'X') out.push({ pid: Number(e), startTime: s.startTime });
  }
  return out;
}
