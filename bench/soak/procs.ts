// What runs on the machine, read from /proc: the pipeline processes pagecast started (they carry
// PAGECAST_OWNER in their environment), their kind, ancestry and memory.
import { readdirSync, readFileSync, statSync } from 'node:fs';

export type Kind = 'ffmpeg' | 'damage-grab' | 'xvfb' | 'chromium' | 'renderer' | 'chromium-helper' | 'crashpad';

export interface Proc {
  pid: number;
  ppid: number;
  comm: string;
  kind: Kind;
  owner: string;
  rssBytes: number;
  cmdline: string;
}

const PAGE = 4096;

function stat(pid: number): { ppid: number; comm: string; state: string } | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = s.lastIndexOf(')');
    const rest = s.slice(close + 2).split(' ');
    return { comm: s.slice(s.indexOf('(') + 1, close), state: rest[0]!, ppid: Number(rest[1]) };
  } catch {
    return undefined;
  }
}

function kindOf(comm: string, cmdline: string): Kind | undefined {
  if (comm === 'ffmpeg') return 'ffmpeg';
  if (/^python3/.test(comm) && cmdline.includes('damage-grab.py')) return 'damage-grab';
  if (comm === 'Xvfb') return 'xvfb';
  // Crashpad's handlers daemonize (their parent is init while their browser lives).
  if (comm.startsWith('chrome_crashpad')) return 'crashpad';
  if (/chrom/i.test(comm) || /chromium/.test(cmdline.split(' ')[0] ?? '')) {
    if (cmdline.includes('--type=renderer')) return 'renderer';
    return cmdline.includes('--type=') ? 'chromium-helper' : 'chromium';
  }
  return undefined;
}

/**
 * Every live pipeline process pagecast started (zombies left out): those with PAGECAST_OWNER in
 * their environment, and their descendants — Chromium starts its zygote, and so its renderers,
 * with a cleaned environment, so they inherit the owner of the nearest ancestor that has one.
 */
export function pipelineProcesses(): Proc[] {
  const all = new Map<number, { ppid: number; comm: string; state: string; owner?: string }>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const pid = Number(e);
    const st = stat(pid);
    if (!st) continue;
    let owner: string | undefined;
    try {
      owner = /(?:^|\0)PAGECAST_OWNER=([^\0]*)/.exec(readFileSync(`/proc/${pid}/environ`, 'utf8'))?.[1];
    } catch {
      // gone, or not readable
    }
    all.set(pid, { ...st, owner });
  }
  const ownerOf = (pid: number): string | undefined => {
    for (let p = pid, hops = 0; p > 1 && hops < 64; hops++) {
      const e = all.get(p);
      if (!e) return undefined;
      if (e.owner !== undefined) return e.owner;
      p = e.ppid;
    }
    return undefined;
  };
  const out: Proc[] = [];
  for (const [pid, e] of all) {
    if (e.state === 'Z') continue;
    const owner = ownerOf(pid);
    if (owner === undefined) continue;
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
      const kind = kindOf(e.comm, cmdline);
      if (!kind) continue;
      const rss = Number(readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]) * PAGE;
      out.push({ pid, ppid: e.ppid, comm: e.comm, kind, owner, rssBytes: rss, cmdline });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Whether `ancestor` is `pid` or one of its ancestors. */
export function descendsFrom(pid: number, ancestor: number): boolean {
  for (let p = pid, hops = 0; p > 1 && hops < 64; hops++) {
    if (p === ancestor) return true;
    const st = stat(p);
    if (!st) return false;
    p = st.ppid;
  }
  return false;
}

/** RSS and open file descriptors of one process, or undefined once it is gone. */
export function processFigures(pid: number): { rssBytes: number; fds: number } | undefined {
  try {
    const rss = Number(readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]) * PAGE;
    const fds = readdirSync(`/proc/${pid}/fd`).length;
    return { rssBytes: rss, fds };
  } catch {
    return undefined;
  }
}

/** Bytes under `dir` (regular files; symlinks not followed), and how many files. */
export function diskUsage(dir: string): { bytes: number; files: number } {
  let bytes = 0;
  let files = 0;
  const walk = (d: string) => {
    let entries;
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = `${d}/${e.name}`;
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) {
        try {
          bytes += statSync(p).size;
          files++;
        } catch {
          // removed meanwhile
        }
      }
    }
  };
  walk(dir);
  return { bytes, files };
}
