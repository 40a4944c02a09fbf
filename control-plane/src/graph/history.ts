// `GET /api/v1/graph/history?window=10m&step=30s`: rate, error rate and p99 of every node and edge, one
// point per step over the window, each point the graph of the step ending there. What the dashboard's
// small charts draw, so they are full when the page opens.
import { formatDuration } from './assemble.js';
import type { GraphSource, TrafficStats } from './types.js';

export const HISTORY_DEFAULTS = Object.freeze({ windowMs: 10 * 60_000, stepMs: 30_000, maxPoints: 60 });

export type Point = Pick<TrafficStats, 'rps' | 'errorRate' | 'p99'>;

export interface GraphHistory {
  window: string;
  step: string;
  /** Ends of the steps, oldest first (RFC 3339). */
  at: string[];
  /** Node or edge id -> one point per step (zeros where it had no calls). */
  series: Record<string, Point[]>;
}

/** Why `windowMs` / `stepMs` cannot be drawn, or undefined. */
export function checkHistory(windowMs: number, stepMs: number): string | undefined {
  if (stepMs > windowMs) return `step ${formatDuration(stepMs)} is longer than the window ${formatDuration(windowMs)}`;
  if (windowMs / stepMs > HISTORY_DEFAULTS.maxPoints) return `window / step gives more than ${HISTORY_DEFAULTS.maxPoints} points: take a longer step`;
  return undefined;
}

export async function graphHistory(source: GraphSource, windowMs: number, stepMs: number, now = Date.now()): Promise<GraphHistory> {
  const count = Math.floor(windowMs / stepMs);
  const ends = Array.from({ length: count }, (_, i) => now - (count - 1 - i) * stepMs);
  const graphs = await Promise.all(ends.map((end) => source.graph(stepMs, end)));
  const series: Record<string, Point[]> = {};
  graphs.forEach((g, i) => {
    for (const x of [...g.nodes, ...g.edges]) {
      const points = (series[x.id] ??= Array.from({ length: count }, () => ({ rps: 0, errorRate: 0, p99: 0 })));
      points[i] = { rps: x.rps, errorRate: x.errorRate, p99: x.p99 };
    }
  });
  return { window: formatDuration(windowMs), step: formatDuration(stepMs), at: ends.map((t) => new Date(t).toISOString()), series };
}
