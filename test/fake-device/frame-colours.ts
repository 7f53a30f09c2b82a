// Names the frames the fake device sampled (frame-sampler.ts) after flat reference colours, so a
// test can say "red, green, blue, in order, and nothing else": pure, no I/O.

export type Rgb = readonly [number, number, number];
/** Reference colours by name, e.g. `{ red: [255, 0, 0], white: [255, 255, 255] }`. */
export type Palette = Readonly<Record<string, Rgb>>;

/** The name of a frame whose cells are not all near one reference colour: half-painted, or not a page at all. */
export const MIXED = 'mixed';

/**
 * Largest per-channel difference a cell may have from its reference. A flat colour through H.264
 * 4:2:0 limited range and back comes out within 3 of itself (measured: red 252,0,0; white
 * 253,253,253); a BT.601/BT.709 matrix mix-up between encoder and decoder moves pure green to
 * 0,216,0. 48 absorbs both, while a cell half red and half white (255,128,128) stays far from both.
 */
export const DEFAULT_TOLERANCE = 48;

function distance(a: Rgb, b: Rgb): number {
  return Math.max(Math.abs(a[0] - b[0]), Math.abs(a[1] - b[1]), Math.abs(a[2] - b[2]));
}

/**
 * The reference every cell is within `tolerance` of (the closest one if several are), or MIXED.
 * A frame with no cells is MIXED: it shows nothing that can be called a page.
 */
export function colourOf(cells: readonly Rgb[], palette: Palette, tolerance = DEFAULT_TOLERANCE): string {
  if (cells.length === 0) return MIXED;
  let best = MIXED;
  let bestWorst = Infinity;
  for (const [name, ref] of Object.entries(palette)) {
    let worst = 0;
    for (const c of cells) {
      worst = Math.max(worst, distance(c, ref));
      if (worst > tolerance) break;
    }
    if (worst <= tolerance && worst < bestWorst) {
      best = name;
      bestWorst = worst;
    }
  }
  return best;
}

/** Each frame with its colour name added. */
export function nameFrames<F extends { cells: readonly Rgb[] }>(frames: readonly F[], palette: Palette, tolerance = DEFAULT_TOLERANCE): Array<F & { name: string }> {
  return frames.map((f) => ({ ...f, name: colourOf(f.cells, palette, tolerance) }));
}

export interface ColourRun {
  name: string;
  /** How many consecutive frames had this name. */
  frames: number;
  /** decodedAt of its first and last frame (ms). */
  firstDecodedAt: number;
  lastDecodedAt: number;
}

/** Consecutive frames with the same name, collapsed: `[red×60, green×58, blue×61]`. */
export function runsOf(frames: ReadonlyArray<{ name: string; decodedAt: number }>): ColourRun[] {
  const runs: ColourRun[] = [];
  for (const f of frames) {
    const last = runs[runs.length - 1];
    if (last && last.name === f.name) {
      last.frames += 1;
      last.lastDecodedAt = f.decodedAt;
    } else {
      runs.push({ name: f.name, frames: 1, firstDecodedAt: f.decodedAt, lastDecodedAt: f.decodedAt });
    }
  }
  return runs;
}

/** Runs as one line for a failure message: `red×60 mixed×1 green×58`. */
export function describeRuns(runs: readonly ColourRun[]): string {
  return runs.map((r) => `${r.name}×${r.frames}`).join(' ');
}

/** The mean colour of a frame's cells, rounded: for saying what a MIXED frame looked like. */
export function meanColour(cells: readonly Rgb[]): Rgb {
  if (cells.length === 0) return [0, 0, 0];
  let r = 0;
  let g = 0;
  let b = 0;
  for (const c of cells) {
    r += c[0];
    g += c[1];
    b += c[2];
  }
  const n = cells.length;
  return [Math.round(r / n), Math.round(g / n), Math.round(b / n)];
}
