// Sizes as users write them: "800MB", "1.5GB", "2GiB". Decimal units are powers of 1000,
// binary units (KiB, MiB, GiB) powers of 1024; a bare number is not a size (bytes? MB?).
const UNIT_BYTES: Record<string, number> = {
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
};
const SIZE = /^\s*(\d+(?:\.\d+)?)\s*(kb|mb|gb|kib|mib|gib)\s*$/i;

/** Parses a size string into bytes, or returns undefined when it is not one. */
export function parseSize(text: string): number | undefined {
  const m = SIZE.exec(text);
  if (!m) return undefined;
  const bytes = Math.round(Number(m[1]) * UNIT_BYTES[m[2]!.toLowerCase()]!);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/** Formats bytes the way a user would write them: the largest decimal unit that keeps a whole-ish number. */
export function formatSize(bytes: number): string {
  if (bytes >= 1e9) return `${+(bytes / 1e9).toFixed(2)}GB`;
  if (bytes >= 1e6) return `${+(bytes / 1e6).toFixed(1)}MB`;
  return `${+(bytes / 1e3).toFixed(1)}kB`;
}
