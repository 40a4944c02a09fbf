import { describe, expect, it } from 'vitest';
import type { Edge, TelemetryReport } from '../../proto/index.js';
import { TelemetryWindow } from './window.js';

const BOUNDS = [0.01, 0.1, 1];
const NOW = 5_000_000_002_500; // mid-slot, so slot rounding cannot hide an off-by-one

function edge(source: string, destination: string, counts: number[], more: Partial<Edge> = {}): Edge {
  const requests = counts.reduce((a, b) => a + b, 0);
  return { source, destination, protocol: 'http', requests, errors: 0, denied: 0, bucket_counts: counts, duration_sum_seconds: 0, ...more };
}

function report(edges: Edge[], bounds = BOUNDS): TelemetryReport {
  return { node: null, timestamp_ms: NOW, period_ms: 5_000, bucket_bounds: bounds, edges };
}

function fixedWindow(now = NOW): TelemetryWindow {
  return new TelemetryWindow({ now: () => now });
}

describe('the in-memory graph of sidecar reports', () => {
  it('gives an edge its rate, error rate and interpolated percentiles from the merged buckets', async () => {
    const w = fixedWindow();
    // Two reports of the same edge: 10 calls <=10ms and 10 in (10ms,100ms] in total, 3 errors, 1 denied.
    w.ingest(report([edge('frontend.default', 'orders.default', [10, 0, 0, 0], { errors: 1, denied: 1 })]), NOW - 20_000);
    w.ingest(report([edge('frontend.default', 'orders.default', [0, 10, 0, 0], { errors: 2 })]), NOW - 1_000);
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
    expect(e.p95).toBeCloseTo(10 + 90 * 0.9, 9); // rank 19 -> 9 of 10 into (10, 100] ms
    expect(e.p99).toBeCloseTo(10 + 90 * 0.98, 9);
  });

  it('gives a node the calls into it, merged over all its callers, and a caller-only node zeros', async () => {
    const w = fixedWindow();
    w.ingest(report([
      edge('frontend.default', 'orders.default', [4, 0, 0, 0], { errors: 1 }),
      edge('unknown', 'orders.default', [0, 0, 4, 0], { errors: 1 }),
      edge('orders.default', 'payments.default', [0, 2, 0, 0]),
    ]), NOW);
    const g = await w.graph(60_000);
    expect(g.nodes.map((n) => n.id)).toEqual(['frontend.default', 'orders.default', 'payments.default', 'unknown']);
    const orders = g.nodes.find((n) => n.id === 'orders.default')!;
    expect(orders).toMatchObject({ service: 'orders', namespace: 'default', requests: 8, errors: 2 });
    expect(orders.errorRate).toBeCloseTo(0.25, 12);
    // Merged [4, 0, 4, 0]: p50 is rank 4, the end of the first bucket; p99 rank 7.92 is 3.92/4 into (0.1, 1] s.
    expect(orders.p50).toBeCloseTo(10, 9);
    expect(orders.p99).toBeCloseTo(100 + 900 * (3.92 / 4), 9);
    for (const id of ['unknown', 'frontend.default']) {
      expect(g.nodes.find((n) => n.id === id)).toMatchObject({ rps: 0, errorRate: 0, p50: 0, p95: 0, p99: 0, requests: 0, errors: 0 });
    }
    expect(g.nodes.find((n) => n.id === 'unknown')!.namespace).toBe('');
  });

  it('leaves out reports older than the window, and forgets those older than the retention', async () => {
    const w = fixedWindow();
    w.ingest(report([edge('a.default', 'b.default', [1, 0, 0, 0])]), NOW - 120_000);
    w.ingest(report([edge('a.default', 'b.default', [0, 1, 0, 0])]), NOW - 55_000);
    w.ingest(report([edge('a.default', 'old.default', [1, 0, 0, 0])]), NOW - 16 * 60_000);
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

  it('keeps the counts but not the latencies of a report with other bucket bounds', async () => {
    const w = fixedWindow();
    w.ingest(report([edge('a.default', 'b.default', [2, 0, 0, 0])]), NOW);
    w.ingest(report([edge('a.default', 'b.default', [0, 0, 0, 0, 5])], [0.5, 1, 2, 4]), NOW);
    const e = (await w.graph(60_000)).edges[0]!;
    expect(e.requests).toBe(7);
    expect(e.p99).toBeCloseTo(9.9, 9); // the two fast calls only
    expect(w.mismatchedReports).toBe(1);
  });

  it('stops tracking new edges at maxEdges', async () => {
    const w = new TelemetryWindow({ now: () => NOW, maxEdges: 2 });
    w.ingest(report(['b', 'c', 'd'].map((t) => edge('a.default', `${t}.default`, [1, 0, 0, 0]))), NOW);
    expect((await w.graph(60_000)).edges).toHaveLength(2);
    expect(w.droppedEdges).toBe(1);
  });

  it('refuses a window longer than what it keeps', async () => {
    await expect(fixedWindow().graph(60 * 60_000)).rejects.toThrow(/longer than the 900000 ms kept in memory/);
  });
});
