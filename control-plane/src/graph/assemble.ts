// Turns per-edge totals over a window into the Graph both sources serve, so the node rules (a node's
// stats are the calls into it) and the rates are computed in one place.
import type { Graph, GraphEdge, GraphNode } from './types.js';

/** Latency percentiles in seconds, as both sources compute them. */
export interface Percentiles {
  p50: number;
  p95: number;
  p99: number;
}

export const NO_LATENCY: Percentiles = Object.freeze({ p50: 0, p95: 0, p99: 0 });

/** What a source knows about the calls from one service to another within the window. */
export interface EdgeTotals {
  source: string;
  target: string;
  protocol: string;
  requests: number;
  errors: number;
  denied: number;
  latency: Percentiles;
}

/** `60000` -> `60s`, `1500` -> `1500ms`: whole seconds when it can be, a form PromQL and the `window` parameter both take. */
export function formatDuration(ms: number): string {
  const whole = Math.round(ms);
  return whole % 1000 === 0 ? `${whole / 1000}s` : `${whole}ms`;
}

function splitKey(id: string): { service: string; namespace: string } {
  const dot = id.indexOf('.');
  return dot < 0 ? { service: id, namespace: '' } : { service: id.slice(0, dot), namespace: id.slice(dot + 1) };
}

const ms = (seconds: number): number => seconds * 1000;
const ratio = (errors: number, requests: number): number => (requests > 0 ? errors / requests : 0);

/**
 * `nodeLatency` holds each target's percentiles over all its incoming calls: they cannot be derived from
 * the per-edge percentiles, so each source computes them from its merged buckets.
 */
export function assembleGraph(edges: readonly EdgeTotals[], nodeLatency: ReadonlyMap<string, Percentiles>, windowMs: number, now = Date.now()): Graph {
  const seconds = windowMs / 1000;
  const inbound = new Map<string, { requests: number; errors: number }>();
  const ids = new Set<string>();
  const outEdges: GraphEdge[] = [];
  for (const e of edges) {
    ids.add(e.source).add(e.target);
    const into = inbound.get(e.target) ?? { requests: 0, errors: 0 };
    into.requests += e.requests;
    into.errors += e.errors;
    inbound.set(e.target, into);
    outEdges.push({
      id: `${e.source}->${e.target}`, source: e.source, target: e.target, protocol: e.protocol,
      rps: e.requests / seconds, errorRate: ratio(e.errors, e.requests),
      p50: ms(e.latency.p50), p95: ms(e.latency.p95), p99: ms(e.latency.p99),
      requests: e.requests, errors: e.errors, denied: e.denied, declared: false, unexpected: false,
    });
  }
  const nodes: GraphNode[] = [...ids].sort().map((id) => {
    const into = inbound.get(id) ?? { requests: 0, errors: 0 };
    const lat = nodeLatency.get(id) ?? NO_LATENCY;
    return {
      id, ...splitKey(id),
      rps: into.requests / seconds, errorRate: ratio(into.errors, into.requests),
      p50: ms(lat.p50), p95: ms(lat.p95), p99: ms(lat.p99),
      requests: into.requests, errors: into.errors,
    };
  });
  outEdges.sort((a, b) => a.id.localeCompare(b.id));
  return { nodes, edges: outEdges, window: formatDuration(windowMs), generatedAt: new Date(now).toISOString() };
}
