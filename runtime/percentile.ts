// The one percentile of the project (clock lateness, the bench's load generator and report).

/**
 * The p-quantile (p in 0…1) of `sorted` (ascending): the element at floor(p × n), the last one for p = 1 — a value
 * that occurred, not an interpolation. `empty` when there is none (default NaN).
 */
export function percentile(sorted: ArrayLike<number>, p: number, empty = NaN): number {
  const n = sorted.length;
  return n === 0 ? empty : sorted[Math.min(n - 1, Math.floor(p * n))];
}
