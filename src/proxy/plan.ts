// Everything a request needs, compiled from one snapshot. A reload builds a new plan and swaps it in;
// requests keep the plan they started with.
import type { Snapshot } from '../config/types.js';
import { FilterChain } from './filters/filter.js';
import { RouteTable } from './routing/route-table.js';
import type { Cluster, ClusterManager } from './upstream/cluster.js';

export interface PlanOptions {
  /** This sidecar's namespace: bare service names resolve in it. */
  readonly namespace: string;
  /** This sidecar's service, when it fronts one. */
  readonly service: string | undefined;
  /** Where inbound calls go: 127.0.0.1:<appPort>. */
  readonly appPort: number | undefined;
}

export interface InboundPlan {
  readonly cluster: Cluster;
  readonly chain: FilterChain;
}

export class ProxyPlan {
  readonly loadedAt = new Date();

  constructor(
    readonly snapshot: Snapshot,
    readonly routes: RouteTable,
    readonly clusters: ReadonlyMap<string, Cluster>,
    readonly inbound: InboundPlan | undefined,
  ) {}
}

export function buildPlan(snapshot: Snapshot, opts: PlanOptions, clusterManager: ClusterManager): ProxyPlan {
  const inboundName = `inbound|${opts.service ?? 'app'}`;
  const extra = opts.appPort !== undefined ? [{ name: inboundName, address: `127.0.0.1:${opts.appPort}` }] : [];
  const clusters = clusterManager.build(snapshot, extra);
  const routes = new RouteTable(snapshot, clusters, opts.namespace);
  const inbound = opts.appPort !== undefined ? { cluster: clusters.get(inboundName)!, chain: FilterChain.EMPTY } : undefined;
  return new ProxyPlan(snapshot, routes, clusters, inbound);
}
