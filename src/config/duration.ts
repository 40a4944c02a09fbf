// Durations as Gateway API (GEP-2257) writes them: `250ms`, `2s`, `1m`, `1h30m`; up to four parts.
const DURATION = /^(?:\d{1,5}(?:h|m|s|ms)){1,4}$/;
const PART = /(\d{1,5})(ms|h|m|s)/g;
const UNIT_MS: Readonly<Record<string, number>> = { h: 3_600_000, m: 60_000, s: 1_000, ms: 1 };

/** Milliseconds, or undefined when `text` is not a duration. */
export function parseDuration(text: string): number | undefined {
  if (!DURATION.test(text)) return undefined;
  let ms = 0;
  for (const [, amount, unit] of text.matchAll(PART)) ms += Number(amount) * UNIT_MS[unit!]!;
  return ms;
}
