// The Node side of damage-driven capture (damage-grab.py beside this file): its command line, its
// once-a-second counts, and a check that it can run on this machine (python3 with ctypes, libX11,
// libXext and libXdamage, and a display with the DAMAGE and MIT-SHM extensions).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The helper script: beside this module, in the sources and in dist/ (the build copies it). */
export const DAMAGE_GRAB_SCRIPT = fileURLToPath(new URL('./damage-grab.py', import.meta.url));

export interface DamageGrabOptions {
  display: string;
  width: number;
  height: number;
  fps: number;
  /** A frame at least this often, on a grid that holds every segment boundary. */
  floorSeconds: number;
  /** A floor frame is grabbed anew at least this often (a change the X server did not report). */
  regrabSeconds: number;
}

/**
 * The system's Python 3 (what install.sh installs): a Python of one's own earlier on the PATH (pyenv,
 * a virtualenv) can take ten times as long to start, and every encoder start waits for it.
 */
export function defaultPython(): string {
  return existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
}

/** `-I -S`: isolated from the user's Python environment and site packages; only the standard library is used. */
export function damageGrabArgs(o: DamageGrabOptions, script = DAMAGE_GRAB_SCRIPT): string[] {
  return ['-I', '-S', script, o.display, String(o.width), String(o.height), String(o.fps), String(o.floorSeconds), String(o.regrabSeconds)];
}

export interface GrabCounts {
  grabs: number;
  /** Frames written to FFmpeg. */
  frames: number;
  /** Frames due while FFmpeg had not taken the last one: it falls behind. */
  dropped: number;
}

/** The helper's counts line ("grabs=N frames=M dropped=D"), or undefined for any other line. */
export function parseGrabCounts(line: string): GrabCounts | undefined {
  const m = /^grabs=(\d+) frames=(\d+) dropped=(\d+)$/.exec(line.trim());
  return m ? { grabs: Number(m[1]), frames: Number(m[2]), dropped: Number(m[3]) } : undefined;
}

/**
 * How much of real time the encoder kept up with between two counts: the share of due frames
 * FFmpeg took (1 when nothing was due). Damage capture stamps frames as FFmpeg reads them, so
 * FFmpeg's own speed stays at 1 however far behind it is; this is the figure the pace reads instead.
 */
export function keptUp(before: GrabCounts, after: GrabCounts): number {
  const written = after.frames - before.frames;
  const dropped = after.dropped - before.dropped;
  return written + dropped > 0 ? written / (written + dropped) : 1;
}

/**
 * Whether damage capture runs here: undefined when it does, else why not (the helper's own words).
 * Runs the helper's --check against the display: about 60 ms.
 */
export function checkDamageGrab(python: string, o: DamageGrabOptions, timeoutMs = 10_000): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(python, [...damageGrabArgs(o), '--check'], { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (!err && stdout.trim() === 'ok') return resolve(undefined);
      if (err && (err as { killed?: boolean }).killed) return resolve(`the check took longer than ${timeoutMs} ms`);
      const said = `${stderr}`.trim().split('\n').filter((l) => l.trim() !== '').slice(-2).join(' | ');
      resolve(said || (err ? err.message : `unexpected answer: ${stdout.trim().slice(0, 200)}`));
    });
  });
}
