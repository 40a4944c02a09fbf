import { describe, expect, it } from 'vitest';
import { quantile } from './histogram.js';

const BOUNDS = [0.01, 0.1, 1];

describe('quantile, as Prometheus histogram_quantile computes it', () => {
  it('interpolates linearly inside the bucket the rank falls in', () => {
    // 10 calls <=10ms, 10 in (10ms,100ms], none slower. p50: rank 10 ends the first bucket -> 0.01.
    expect(quantile(0.5, BOUNDS, [10, 10, 0, 0])).toBeCloseTo(0.01, 12);
    // p75: rank 15, 5 of the 10 in (0.01, 0.1] -> 0.01 + 0.09 * 0.5.
    expect(quantile(0.75, BOUNDS, [10, 10, 0, 0])).toBeCloseTo(0.055, 12);
    // p99: rank 19.8 -> 0.01 + 0.09 * 0.98.
    expect(quantile(0.99, BOUNDS, [10, 10, 0, 0])).toBeCloseTo(0.0982, 12);
  });

  it('starts the first bucket at 0', () => {
    expect(quantile(0.5, BOUNDS, [4, 0, 0, 0])).toBeCloseTo(0.005, 12);
  });

  it('skips empty buckets between the ones with counts', () => {
    // 1 fast, 1 in (0.1, 1]: p75 is rank 1.5 -> halfway through (0.1, 1].
    expect(quantile(0.75, BOUNDS, [1, 0, 1, 0])).toBeCloseTo(0.55, 12);
  });

  it('gives the highest finite bound when the rank falls in +Inf', () => {
    expect(quantile(0.99, BOUNDS, [1, 0, 0, 9])).toBe(1);
  });

  it('gives 0 for no observations', () => {
    expect(quantile(0.5, BOUNDS, [0, 0, 0, 0])).toBe(0);
  });
});
