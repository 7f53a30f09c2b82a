// Naming sampled frames after reference colours, on synthetic 4×4 frames.
import { describe, expect, it } from 'vitest';
import { DEFAULT_TOLERANCE, MIXED, colourOf, describeRuns, meanColour, nameFrames, runsOf, type Palette, type Rgb } from './frame-colours.js';

const PAGES: Palette = { red: [255, 0, 0], green: [0, 255, 0], blue: [0, 0, 255] };
const WITH_BLANKS: Palette = { ...PAGES, white: [255, 255, 255], black: [0, 0, 0] };

const flat = (c: Rgb, n = 16): Rgb[] => Array.from({ length: n }, () => c);
/** Top `rows` of a 4×4 grid one colour, the rest another: a page painted part-way. */
const split = (top: Rgb, bottom: Rgb, rows = 2): Rgb[] => [...flat(top, rows * 4), ...flat(bottom, 16 - rows * 4)];

describe('colourOf', () => {
  it.each([
    ['red after an H.264 round trip', flat([252, 0, 0]), 'red'],
    ['green, exact', flat([0, 255, 0]), 'green'],
    ['blue with encoder noise in one cell', [...flat([0, 0, 253], 15), [3, 2, 250] as Rgb], 'blue'],
    // Encoded as BT.601, decoded as BT.709: the worst shift a matrix mix-up gives a primary.
    ['green through a BT.601/709 mix-up', flat([0, 216, 0]), 'green'],
    ['red through a BT.601/709 mix-up', flat([255, 24, 0]), 'red'],
  ])('%s → %s', (_what, cells, name) => {
    expect(colourOf(cells, PAGES)).toBe(name);
  });

  it('a half-red, half-white frame is mixed, whether or not white is a reference', () => {
    const half = split([255, 255, 255], [255, 0, 0]);
    expect(colourOf(half, PAGES)).toBe(MIXED);
    expect(colourOf(half, WITH_BLANKS)).toBe(MIXED);
  });

  it('a cell straddling the edge of a half-painted page (area average of red and white) matches neither', () => {
    const cells = [...flat([255, 0, 0], 15), [255, 128, 128] as Rgb];
    expect(colourOf(cells, WITH_BLANKS)).toBe(MIXED);
  });

  it('one page fading into the next is mixed while between them', () => {
    // A cross-fade or a frame blended by the encoder: red and green averaged.
    expect(colourOf(flat([128, 128, 0]), PAGES)).toBe(MIXED);
  });

  it('names white and black only when they are references; otherwise a flat white frame is mixed too', () => {
    expect(colourOf(flat([253, 253, 253]), WITH_BLANKS)).toBe('white');
    expect(colourOf(flat([0, 0, 0]), WITH_BLANKS)).toBe('black');
    expect(colourOf(flat([253, 253, 253]), PAGES)).toBe(MIXED);
    expect(colourOf(flat([16, 16, 16]), PAGES)).toBe(MIXED);
  });

  it('respects the tolerance at its edge', () => {
    expect(colourOf(flat([255 - DEFAULT_TOLERANCE, 0, 0]), PAGES)).toBe('red');
    expect(colourOf(flat([255 - DEFAULT_TOLERANCE - 1, 0, 0]), PAGES)).toBe(MIXED);
    expect(colourOf(flat([245, 0, 0]), PAGES, 5)).toBe(MIXED);
  });

  it('picks the closest reference when two are within the tolerance', () => {
    const close: Palette = { navy: [20, 40, 100], slate: [40, 60, 120] };
    expect(colourOf(flat([22, 41, 101]), close)).toBe('navy');
    expect(colourOf(flat([38, 58, 118]), close)).toBe('slate');
  });

  it('a frame with no cells is mixed', () => {
    expect(colourOf([], PAGES)).toBe(MIXED);
  });
});

describe('nameFrames and runsOf', () => {
  const frame = (decodedAt: number, c: Rgb | Rgb[]) => ({ decodedAt, sequence: 1, index: 0, cells: Array.isArray(c[0]) ? (c as Rgb[]) : flat(c as Rgb) });

  it('keeps each frame and adds its name', () => {
    const named = nameFrames([frame(10, [255, 0, 0])], PAGES);
    expect(named).toEqual([{ decodedAt: 10, sequence: 1, index: 0, cells: flat([255, 0, 0]), name: 'red' }]);
  });

  it('collapses consecutive names into runs with their first and last decode times', () => {
    const frames = [
      frame(100, [255, 0, 0]),
      frame(100, [250, 2, 1]),
      frame(133, [255, 0, 0]),
      frame(166, split([255, 0, 0], [0, 255, 0])),
      frame(200, [0, 255, 0]),
      frame(233, [0, 0, 255]),
      frame(266, [255, 0, 0]),
    ];
    const runs = runsOf(nameFrames(frames, PAGES));
    expect(runs).toEqual([
      { name: 'red', frames: 3, firstDecodedAt: 100, lastDecodedAt: 133 },
      { name: MIXED, frames: 1, firstDecodedAt: 166, lastDecodedAt: 166 },
      { name: 'green', frames: 1, firstDecodedAt: 200, lastDecodedAt: 200 },
      { name: 'blue', frames: 1, firstDecodedAt: 233, lastDecodedAt: 233 },
      { name: 'red', frames: 1, firstDecodedAt: 266, lastDecodedAt: 266 },
    ]);
    expect(describeRuns(runs)).toBe('red×3 mixed×1 green×1 blue×1 red×1');
    // What a rotation test asserts: the pages in order, and no foreign run.
    expect(runs.map((r) => r.name).filter((n) => !(n in PAGES))).toEqual([MIXED]);
  });

  it('no frames, no runs', () => {
    expect(runsOf([])).toEqual([]);
  });
});

describe('meanColour', () => {
  it('averages the cells, rounded', () => {
    expect(meanColour(split([255, 255, 255], [255, 0, 0]))).toEqual([255, 128, 128]);
    expect(meanColour([])).toEqual([0, 0, 0]);
  });
});
