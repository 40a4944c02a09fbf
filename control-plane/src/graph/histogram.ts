// Percentiles from bucketed latencies, computed the way Prometheus's histogram_quantile does
// (promql/quantile.go), so the in-memory graph and the Prometheus graph agree on the same data.

/**
 * The q-quantile (0..1) of a histogram with upper `bounds` (ascending, finite) and NON-cumulative
 * `counts` (bounds.length + 1 entries, the last for +Inf). Linear interpolation inside the bucket the
 * rank falls in, from 0 for the first bucket; a rank in the +Inf bucket gives the highest finite bound.
 * Returns 0 for an empty histogram: a graph shows "no latency", never NaN (which JSON cannot carry).
 */
export function quantile(q: number, bounds: readonly number[], counts: ArrayLike<number>): number {
  let total = 0;
  for (let i = 0; i < counts.length; i++) total += counts[i]!;
  if (total <= 0 || bounds.length === 0) return 0;
  const rank = q * total;
  let below = 0;
  for (let i = 0; i < bounds.length; i++) {
    const inBucket = counts[i]!;
    if (below + inBucket >= rank && inBucket > 0) {
      const start = i === 0 ? 0 : bounds[i - 1]!;
      const end = bounds[i]!;
      if (i === 0 && end <= 0) return end;
      return start + (end - start) * ((rank - below) / inBucket);
    }
    below += inBucket;
  }
  return bounds[bounds.length - 1]!;
}

/** Adds `from` into `into`, bucket by bucket (both non-cumulative, same bounds). */
export function addCounts(into: Float64Array, from: ArrayLike<number>): void {
  for (let i = 0; i < into.length; i++) into[i]! += from[i] ?? 0;
}
