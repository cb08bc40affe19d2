/** Small numeric helpers: medians, a seeded PRNG (every contender gets the same random ids), formatting. */

export function median(xs: number[]): number {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/** Per-round ratio, then the median of those: drift between rounds hits both sides of each ratio alike. */
export function medianRatio(num: number[], den: number[]): number {
  return median(num.map((x, i) => x / den[i]));
}

/** mulberry32: tiny, fast, seeded. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function fmtNum(x: number): string {
  if (!Number.isFinite(x)) return '–';
  if (x >= 100_000) return `${Math.round(x / 1000)}k`;
  if (x >= 10_000) return `${(x / 1000).toFixed(1)}k`;
  if (x >= 100) return String(Math.round(x));
  if (x >= 10) return x.toFixed(1);
  return x.toFixed(2);
}

export const fmtRatio = (x: number) => (Number.isFinite(x) ? `${x.toFixed(2)}×` : '–');
export const fmtN = (n: number) => (n >= 1000 ? `${n / 1000}k` : String(n));
