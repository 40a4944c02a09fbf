import { describe, expect, it } from 'vitest';
import type { Edge, TelemetryReport } from '../../proto/index.js';
import { DURATION_BUCKETS } from '../../../src/telemetry/mesh-metrics.js';
import { TelemetryWindow } from './window.js';

/** Non-cumulative counts over DURATION_BUCKETS (what sidecars send): `{ upper bound in seconds: calls }`. */
function at(calls: Record<number, number>): number[] {
  const counts = new Array<number>(DURATION_BUCKETS.length + 1).fill(0);
  for (const [bound, n] of Object.entries(calls)) counts[DURATION_BUCKETS.indexOf(Number(bound))]! += n;
  return counts;
}
const NOW = 5_000_000_002_500; // mid-slot, so slot rounding cannot hide an off-by-one

function edge(source: string, destination: string, counts: number[], more: Partial<Edge> = {}): Edge {
  const requests = counts.reduce((a, b) => a + b, 0);
  return { source, destination, protocol: 'http', requests, errors: 0, denied: 0, bucket_counts: counts, duration_sum_seconds: 0, ...more };
}

function report(edges: Edge[], bounds = DURATION_BUCKETS): TelemetryReport {
  return { node: null, timestamp_ms: NOW, period_ms: 5_000, bucket_bounds: bounds, edges };
}

function fixedWindow(now = NOW): TelemetryWindow {
  return new TelemetryWindow({ now: () => now });
}

describe('the in-memory graph of sidecar reports', () => {
  it('gives an edge its rate, error rate and interpolated percentiles from the merged buckets', async () => {
    const w = fixedWindow();
    // Two reports of the same edge: 10 calls in (5ms,10ms] and 10 in (50ms,100ms] in total, 3 errors, 1 denied.
    w.ingest(report([edge('frontend.default', 'orders.default', at({ 0.01: 10 }), { errors: 1, denied: 1 })]), NOW - 20_000);
    w.ingest(report([edge('frontend.default', 'orders.default', at({ 0.1: 10 }), { errors: 2 })]), NOW - 1_000);
    const g = await w.graph(60_000);
    expect(g.window).toBe('60s');
    expect(g.edges).toHaveLength(1);
    const e = g.edges[0]!;
    expect(e).toMatchObject({ id: 'frontend.default->orders.default', source: 'frontend.default', target: 'orders.default', protocol: 'http', requests: 20, errors: 3, denied: 1 });
    // The first report arrived 20 s ago and covers the 5 s before it: 25 s seen, not 60.
    expect(g.observed).toBe('25s');
    expect(e.rps).toBeCloseTo(20 / 25, 12);
    expect(e.errorRate).toBeCloseTo(0.15, 12);
    expect(e.p50).toBeCloseTo(10, 9); // rank 10 ends the first bucket: 10 ms
    expect(e.p95).toBeCloseTo(50 + 50 * 0.9, 9); // rank 19 -> 9 of 10 into (50, 100] ms
    expect(e.p99).toBeCloseTo(50 + 50 * 0.98, 9);
  });

  it('gives a node the calls into it, merged over all its callers, and a caller-only node zeros', async () => {
    const w = fixedWindow();
    w.ingest(report([
      edge('frontend.default', 'orders.default', at({ 0.01: 4 }), { errors: 1 }),
      edge('unknown', 'orders.default', at({ 1: 4 }), { errors: 1 }),
      edge('orders.default', 'payments.default', at({ 0.1: 2 })),
    ]), NOW);
    const g = await w.graph(60_000);
    expect(g.nodes.map((n) => n.id)).toEqual(['frontend.default', 'orders.default', 'payments.default', 'unknown']);
    const orders = g.nodes.find((n) => n.id === 'orders.default')!;
    expect(orders).toMatchObject({ service: 'orders', namespace: 'default', requests: 8, errors: 2 });
    expect(orders.errorRate).toBeCloseTo(0.25, 12);
    // Merged: p50 is rank 4, the end of the (5, 10] ms bucket; p99 rank 7.92 is 3.92/4 into (0.5, 1] s.
    expect(orders.p50).toBeCloseTo(10, 9);
    expect(orders.p99).toBeCloseTo(500 + 500 * (3.92 / 4), 9);
    for (const id of ['unknown', 'frontend.default']) {
      expect(g.nodes.find((n) => n.id === id)).toMatchObject({ rps: 0, errorRate: 0, p50: 0, p95: 0, p99: 0, requests: 0, errors: 0 });
    }
    expect(g.nodes.find((n) => n.id === 'unknown')!.namespace).toBe('');
  });

  it('leaves out reports older than the window, and forgets those older than the retention', async () => {
    const w = fixedWindow();
    w.ingest(report([edge('a.default', 'b.default', at({ 0.01: 1 }))]), NOW - 120_000);
    w.ingest(report([edge('a.default', 'b.default', at({ 0.1: 1 }))]), NOW - 55_000);
    w.ingest(report([edge('a.default', 'old.default', at({ 0.01: 1 }))]), NOW - 16 * 60_000);
    const last60 = await w.graph(60_000);
    expect(last60.edges.map((e) => [e.id, e.requests])).toEqual([['a.default->b.default', 1]]);
    expect(last60.edges[0]!.p50).toBeGreaterThan(10); // only the (10, 100] ms call
    const last5m = await w.graph(300_000);
    expect(last60.observed).toBeUndefined(); // seen for longer than the window
    expect(last60.edges[0]!.rps).toBeCloseTo(1 / 60, 12);
    expect(last5m.window).toBe('300s');
    expect(last5m.observed).toBe('125s'); // the report dropped for its age does not count as seen
    expect(last5m.edges.map((e) => [e.id, e.requests])).toEqual([['a.default->b.default', 2]]);
    expect(last5m.edges[0]!.rps).toBeCloseTo(2 / 125, 12);
  });

  it('keeps the counts but not the latencies of a report with other bucket bounds than the sidecars are built with', async () => {
    const w = fixedWindow();
    w.ingest(report([edge('a.default', 'b.default', at({ 0.01: 2 }))]), NOW);
    w.ingest(report([edge('a.default', 'b.default', [0, 0, 0, 0, 5])], [0.5, 1, 2, 4]), NOW);
    // The first report with a flood of bounds does not make them the window's.
    const many = Array.from({ length: 100_000 }, (_, i) => i / 1000);
    w.ingest(report([edge('a.default', 'b.default', new Array<number>(many.length + 1).fill(0))], many), NOW);
    const e = (await w.graph(60_000)).edges[0]!;
    expect(e.requests).toBe(7);
    expect(e.p99).toBeCloseTo(5 + 5 * 0.99, 9); // the two fast calls only
    expect(w.mismatchedReports).toBe(2);
  });

  it('past maxEdges forgets the least recently reported edge, so new edges are always tracked', async () => {
    const w = new TelemetryWindow({ now: () => NOW, maxEdges: 2 });
    w.ingest(report(['b', 'c'].map((t) => edge('a.default', `${t}.default`, at({ 0.01: 1 })))), NOW - 2_000);
    w.ingest(report([edge('a.default', 'b.default', at({ 0.01: 1 }))]), NOW - 1_000); // b is fresh again, c the stalest
    w.ingest(report([edge('a.default', 'd.default', at({ 0.01: 1 }))]), NOW);
    expect((await w.graph(60_000)).edges.map((e) => e.target)).toEqual(['b.default', 'd.default']);
    expect(w.evictedEdges).toBe(1);
  });

  it('refuses a window longer than what it keeps', async () => {
    await expect(fixedWindow().graph(60 * 60_000)).rejects.toThrow(/longer than the 900000 ms kept in memory/);
  });
});
