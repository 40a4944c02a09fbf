// The call graph of CONTRACT.md section 5 (`GET /api/v1/graph`), whichever source computes it.

/** A service. Its stats are the calls INTO it (as Kiali shows them), so a node that only calls out has zeros. */
export interface GraphNode {
  /** Service key `name.namespace`, or `unknown` for callers without a sidecar. */
  id: string;
  /** The name part of the key (`orders` for `orders.default`). */
  service: string;
  /** The namespace part of the key; empty for `unknown`. */
  namespace: string;
  rps: number;
  /** errors / requests, 0 when there were no requests. */
  errorRate: number;
  /** Latency percentiles of the calls into this service, in milliseconds. */
  p50: number;
  p95: number;
  p99: number;
  requests: number;
  errors: number;
}

export interface GraphEdge {
  /** `source->target`. */
  id: string;
  source: string;
  target: string;
  protocol: string;
  rps: number;
  errorRate: number;
  /** Milliseconds. */
  p50: number;
  p95: number;
  p99: number;
  requests: number;
  /** 5xx responses, or no response at all. */
  errors: number;
  /** Refused by authorization policy (response flag UAEX). */
  denied: number;
}

export interface Graph {
  nodes: GraphNode[];
  edges: GraphEdge[];
  /** The window the rates cover, as a duration: `60s`, `5m`. */
  window: string;
  /** RFC 3339. */
  generatedAt: string;
}

/** Where the graph comes from: the in-memory window of sidecar reports, or Prometheus. */
export interface GraphSource {
  /** The longest window it can answer, when it has one (the in-memory source keeps 15 minutes). */
  readonly maxWindowMs?: number;
  graph(windowMs: number): Promise<Graph>;
}
