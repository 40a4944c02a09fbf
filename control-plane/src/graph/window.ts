// The embedded graph source: the sidecars' TelemetryReports (per-edge aggregates every report interval)
// summed into fixed time slots per edge, so a graph over any window up to the retention is a sum of slots.
import type { Edge, TelemetryReport } from '../../proto/index.js';
import { DURATION_BUCKETS } from '../../../src/telemetry/mesh-metrics.js';
import { assembleGraph, type EdgeTotals, type Percentiles } from './assemble.js';
import { addCounts, quantile } from './histogram.js';
import type { Graph, GraphSource } from './types.js';

export interface WindowOptions {
  /** Slot width: the graph's time resolution. */
  readonly slotMs?: number;
  /** How far back slots are kept: the longest window this source answers. */
  readonly retentionMs?: number;
  /** Past this many distinct source->target pairs the least recently reported one is forgotten, so a flood of names cannot exhaust memory. */
  readonly maxEdges?: number;
  readonly now?: () => number;
}

export const WINDOW_DEFAULTS = Object.freeze({ slotMs: 5_000, retentionMs: 15 * 60_000, maxEdges: 10_000 });

class Slot {
  requests = 0;
  errors = 0;
  denied = 0;
  /** Non-cumulative latency counts; undefined until a report with DURATION_BUCKETS lands here. */
  counts: Float64Array | undefined;
  constructor(readonly index: number) {}
}

/** One source->target pair: a ring of slots, position = slot index modulo the ring size. */
class EdgeSlots {
  protocol = '';
  newest = -Infinity;
  readonly ring: (Slot | undefined)[];

  constructor(readonly source: string, readonly target: string, size: number) {
    this.ring = new Array<Slot | undefined>(size);
  }

  /** The slot for `index`, reusing the ring position of an expired one; undefined if a newer slot holds it. */
  slot(index: number): Slot | undefined {
    const pos = index % this.ring.length;
    const held = this.ring[pos];
    if (held !== undefined && held.index === index) return held;
    if (held !== undefined && held.index > index) return undefined;
    const fresh = new Slot(index);
    this.ring[pos] = fresh;
    this.newest = Math.max(this.newest, index);
    return fresh;
  }
}

const QUANTILES = [0.5, 0.95, 0.99] as const;

export class TelemetryWindow implements GraphSource {
  readonly maxWindowMs: number;
  /** Reports whose bucket bounds were not DURATION_BUCKETS: their counts were kept, their latencies not. */
  mismatchedReports = 0;
  /** Edges forgotten, least recently reported first, to keep at most maxEdges. */
  evictedEdges = 0;
  private readonly bounds = DURATION_BUCKETS;
  /** In order of their last report, least recent first. */
  private readonly edges = new Map<string, EdgeSlots>();
  private readonly slotMs: number;
  private readonly slots: number;
  private readonly maxEdges: number;
  private readonly now: () => number;

  constructor(opts: WindowOptions = {}) {
    this.slotMs = opts.slotMs ?? WINDOW_DEFAULTS.slotMs;
    this.slots = Math.ceil((opts.retentionMs ?? WINDOW_DEFAULTS.retentionMs) / this.slotMs);
    this.maxWindowMs = this.slots * this.slotMs;
    this.maxEdges = opts.maxEdges ?? WINDOW_DEFAULTS.maxEdges;
    this.now = opts.now ?? Date.now;
  }

  /**
   * Files a report under the time it arrived, by the control plane's clock: sidecar clocks may be skewed,
   * and the window is measured on this clock. Sidecars are built with one set of bucket bounds
   * (DURATION_BUCKETS); merging histograms with other bounds would give wrong percentiles, so a report
   * with different bounds adds its counts but not its latencies.
   */
  ingest(report: TelemetryReport, receivedAtMs = Date.now()): void {
    const index = Math.floor(receivedAtMs / this.slotMs);
    if (index <= this.currentSlot() - this.slots) return;
    const sameBounds = sameNumbers(report.bucket_bounds, this.bounds);
    if (!sameBounds && report.bucket_bounds.length > 0) this.mismatchedReports++;
    for (const e of report.edges) this.add(e, index, sameBounds);
  }

  async graph(windowMs: number, endMs?: number): Promise<Graph> {
    if (windowMs > this.maxWindowMs) throw new RangeError(`window ${windowMs} ms is longer than the ${this.maxWindowMs} ms kept in memory`);
    const now = endMs ?? this.now();
    const newest = Math.floor(now / this.slotMs);
    // The window is whole slots: the current (partial) one and those before it, so a call is counted
    // at most one slot early or late.
    const oldest = newest - Math.ceil(windowMs / this.slotMs) + 1;
    const totals: EdgeTotals[] = [];
    const byTarget = new Map<string, Float64Array>();
    for (const [key, edge] of this.edges) {
      if (edge.newest <= newest - this.slots) {
        this.edges.delete(key);
        continue;
      }
      const sum = this.sum(edge, oldest, newest);
      if (sum.requests === 0) continue;
      if (sum.counts !== undefined) {
        const t = byTarget.get(edge.target) ?? new Float64Array(sum.counts.length);
        addCounts(t, sum.counts);
        byTarget.set(edge.target, t);
      }
      totals.push({ source: edge.source, target: edge.target, protocol: edge.protocol, requests: sum.requests, errors: sum.errors, denied: sum.denied, latency: this.percentiles(sum.counts) });
    }
    const nodeLatency = new Map([...byTarget].map(([id, counts]) => [id, this.percentiles(counts)] as const));
    return assembleGraph(totals, nodeLatency, windowMs, now);
  }

  private currentSlot(): number {
    return Math.floor(this.now() / this.slotMs);
  }

  private add(e: Edge, index: number, withLatency: boolean): void {
    const key = `${e.source}->${e.destination}`;
    let edge = this.edges.get(key);
    if (edge !== undefined) {
      this.edges.delete(key); // re-inserted below: most recently reported last
    } else {
      if (this.edges.size >= this.maxEdges) {
        this.edges.delete(this.edges.keys().next().value!);
        this.evictedEdges++;
      }
      edge = new EdgeSlots(e.source, e.destination, this.slots);
    }
    this.edges.set(key, edge);
    if (e.protocol !== '') edge.protocol = e.protocol;
    const slot = edge.slot(index);
    if (slot === undefined) return;
    slot.requests += e.requests;
    slot.errors += e.errors;
    slot.denied += e.denied;
    const width = this.bounds.length + 1;
    if (withLatency && e.bucket_counts.length === width) addCounts((slot.counts ??= new Float64Array(width)), e.bucket_counts);
  }

  private sum(edge: EdgeSlots, oldest: number, newest: number): { requests: number; errors: number; denied: number; counts: Float64Array | undefined } {
    const out = { requests: 0, errors: 0, denied: 0, counts: undefined as Float64Array | undefined };
    for (const s of edge.ring) {
      if (s === undefined || s.index < oldest || s.index > newest) continue;
      out.requests += s.requests;
      out.errors += s.errors;
      out.denied += s.denied;
      if (s.counts !== undefined) addCounts((out.counts ??= new Float64Array(s.counts.length)), s.counts);
    }
    return out;
  }

  private percentiles(counts: Float64Array | undefined): Percentiles {
    const [p50, p95, p99] = QUANTILES.map((q) => (counts === undefined ? 0 : quantile(q, this.bounds, counts)));
    return { p50: p50!, p95: p95!, p99: p99! };
  }
}

function sameNumbers(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
