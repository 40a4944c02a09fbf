import { describe, expect, it } from 'vitest';
import { parseDuration } from './duration.js';

describe('durations as Gateway API writes them', () => {
  it('reads each unit and combinations', () => {
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('2s')).toBe(2000);
    expect(parseDuration('1m')).toBe(60_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('1s500ms')).toBe(1500);
    expect(parseDuration('0s')).toBe(0);
  });
  it('rejects what is not a duration', () => {
    for (const bad of ['', '5', '1.5s', '-1s', '1d', 's', '1 s', '123456s', '1h1m1s1ms1h']) {
      expect(parseDuration(bad), bad).toBeUndefined();
    }
  });
});
