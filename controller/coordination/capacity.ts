// How many specs one instance takes when --capacity is not given. From the benchmarks (README,
// "Still pages cost less": FFmpeg + Chromium + Xvfb, % of one core): a 720p30 page (the default
// quality) costs 16.1 % of a core when still, 70.6 % when animated; 1080p30 still 30 %. Signage is
// mostly still pages, so the default budgets the still 720p figure, and keeps a quarter of the
// machine for the controller, animation peaks, and the burst of starts when this instance takes
// over a dead one's specs:
//
//   capacity = max(1, floor(cores × 0.75 / 0.161))      2 cores → 9, 4 cores → 18, 8 cores → 37
//
// A site with animated or 1080p pages should set --capacity from its own `npm run bench:pipeline`.

export const STILL_720P30_CORES = 0.161;
export const USABLE_SHARE = 0.75;

export function defaultCapacity(cores: number, perStreamCores = STILL_720P30_CORES): number {
  if (!Number.isFinite(cores) || cores <= 0) return 1;
  return Math.max(1, Math.floor((cores * USABLE_SHARE) / perStreamCores + 1e-9));
}
