// The call graph of CONTRACT.md section 5 (`GET /api/v1/graph`), whichever source computes it.

/** What was seen of a set of calls within the window. */
export interface TrafficStats {
  rps: number;
  /** errors / requests, 0 when there were no requests. */
  errorRate: number;
  /** Latency percentiles in milliseconds. */
  p50: number;
  p95: number;
  p99: number;
  requests: number;
  /** 5xx responses, or no response at all. */
  errors: number;
}

/** A service. Its stats are the calls INTO it (as Kiali shows them), so a node that only calls out has zeros. */
export interface GraphNode extends TrafficStats {
  /** Service key `name.namespace`, or `unknown` for callers without a sidecar. */
  id: string;
  /** The name part of the key (`orders` for `orders.default`). */
  service: string;
  /** The namespace part of the key; empty for `unknown`. */
  namespace: string;
}

/** The calls from one service to another. */
export interface GraphEdge extends TrafficStats {
  /** `source->target`. */
  id: string;
  source: string;
  target: string;
  protocol: string;
  /** Refused by authorization policy (response flag UAEX). */
  denied: number;
  /** The callee's MeshService lists the caller in `spec.callers`. With no requests: declared, but unused in the window. */
  declared: boolean;
  /** The callee lists its callers and this one is not among them. */
  unexpected: boolean;
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
  /** The window ending now, or at `endMs` (ms since the epoch) for the history the dashboard's charts draw. */
  graph(windowMs: number, endMs?: number): Promise<Graph>;
}
