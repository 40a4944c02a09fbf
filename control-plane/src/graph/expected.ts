// Expected against observed: the edges the config declares (a MeshService's `spec.callers`) laid over the
// edges the sidecars saw. An observed edge into a service that declares its callers, from a caller it does
// not list, is unexpected; a declared edge nobody used within the window is added with no traffic, so the
// dashboard draws it dashed. A service without `callers` declares nothing, and no edge into it is flagged.
import type { Snapshot } from '../../../src/config/types.js';
import type { Graph, GraphEdge, GraphNode } from './types.js';

/** callee key -> the caller keys it declares, and its protocol (what an edge without traffic is drawn as). */
export type DeclaredCallers = ReadonlyMap<string, { readonly callers: ReadonlySet<string>; readonly protocol: string }>;

export function declaredCallers(snapshot: Snapshot): DeclaredCallers {
  const out = new Map<string, { callers: ReadonlySet<string>; protocol: string }>();
  for (const svc of snapshot.services.values()) {
    if (svc.callers !== undefined) out.set(svc.key, { callers: new Set(svc.callers), protocol: svc.protocol });
  }
  return out;
}

const idleStats = { rps: 0, errorRate: 0, p50: 0, p95: 0, p99: 0, requests: 0, errors: 0 } as const;

function idleNode(id: string): GraphNode {
  const dot = id.indexOf('.');
  return { id, service: dot < 0 ? id : id.slice(0, dot), namespace: dot < 0 ? '' : id.slice(dot + 1), ...idleStats };
}

/** The graph with every edge's `declared` and `unexpected` set, and the declared edges without traffic added. */
export function withExpectations(g: Graph, declared: DeclaredCallers): Graph {
  const edges: GraphEdge[] = g.edges.map((e) => {
    const callers = declared.get(e.target)?.callers;
    const isDeclared = callers?.has(e.source) === true;
    return { ...e, declared: isDeclared, unexpected: callers !== undefined && !isDeclared };
  });
  const seen = new Set(edges.map((e) => e.id));
  const nodes = new Map(g.nodes.map((n) => [n.id, n]));
  for (const [target, { callers, protocol }] of declared) {
    for (const source of callers) {
      const id = `${source}->${target}`;
      if (seen.has(id)) continue;
      edges.push({ id, source, target, protocol, ...idleStats, denied: 0, declared: true, unexpected: false });
      for (const n of [source, target]) if (!nodes.has(n)) nodes.set(n, idleNode(n));
    }
  }
  edges.sort((a, b) => a.id.localeCompare(b.id));
  return { ...g, nodes: [...nodes.values()].sort((a, b) => a.id.localeCompare(b.id)), edges };
}
