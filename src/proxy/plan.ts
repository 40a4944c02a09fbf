// Everything a request needs, compiled from one snapshot. A reload builds a new plan and swaps it in;
// requests keep the plan they started with.
import type { Snapshot, TelemetryConfig } from '../config/types.js';
import { TELEMETRY_DEFAULTS } from '../config/kinds/telemetry.js';
import type { TraceSettings } from '../telemetry/trace-hop.js';
import type { MeshMetrics, RouteSeries } from '../telemetry/mesh-metrics.js';
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
  /** Metric labels by calling service (`name.namespace`), for the services of the snapshot only: the
   *  caller's header is untrusted, so anything else is `unknown` and cannot blow up the label set. */
  readonly seriesBySource: ReadonlyMap<string, RouteSeries>;
  readonly unknownSource: RouteSeries;
}

/** How metrics name this sidecar's own service: `name.namespace`, or `unknown` without --service. */
export function selfName(opts: PlanOptions): string {
  return opts.service === undefined ? 'unknown' : `${opts.service}.${opts.namespace}`;
}

export class ProxyPlan {
  readonly loadedAt = new Date();

  constructor(
    readonly snapshot: Snapshot,
    readonly routes: RouteTable,
    readonly clusters: ReadonlyMap<string, Cluster>,
    readonly inbound: InboundPlan | undefined,
    /** This sidecar's service as metrics and the source header name it (see selfName). */
    readonly self: string,
    /** The Telemetry that applies to this sidecar (undefined: the defaults). */
    readonly telemetry: TelemetryConfig | undefined,
  ) {
    this.trace = traceSettings(telemetry);
  }

  get accessLog(): boolean {
    return this.telemetry?.accessLog.enabled ?? TELEMETRY_DEFAULTS.accessLog;
  }

  /** Sampling and propagation, resolved once per config. */
  readonly trace: TraceSettings;
}

export function buildPlan(snapshot: Snapshot, opts: PlanOptions, clusterManager: ClusterManager, metrics: MeshMetrics): ProxyPlan {
  const inboundName = `inbound|${opts.service ?? 'app'}`;
  const extra = opts.appPort !== undefined ? [{ name: inboundName, address: `127.0.0.1:${opts.appPort}` }] : [];
  const clusters = clusterManager.build(snapshot, extra);
  const self = selfName(opts);
  const routes = new RouteTable(snapshot, clusters, opts.namespace, (dst, route) => metrics.route('source', self, dst, route));
  let inbound: InboundPlan | undefined;
  if (opts.appPort !== undefined) {
    const seriesBySource = new Map<string, RouteSeries>();
    for (const key of snapshot.services.keys()) seriesBySource.set(key, metrics.route('destination', key, self, '-'));
    const unknownSource = metrics.route('destination', 'unknown', self, '-');
    inbound = { cluster: clusters.get(inboundName)!, chain: FilterChain.EMPTY, seriesBySource, unknownSource };
  }
  return new ProxyPlan(snapshot, routes, clusters, inbound, self, telemetryFor(snapshot, self, opts.namespace));
}

function traceSettings(t: TelemetryConfig | undefined): TraceSettings {
  const formats = t?.tracing.propagation ?? TELEMETRY_DEFAULTS.propagation;
  return {
    percentage: t?.tracing.samplingPercentage ?? TELEMETRY_DEFAULTS.samplingPercentage,
    propagate: { w3c: formats.includes('w3c'), b3: formats.includes('b3'), b3multi: formats.includes('b3multi') },
  };
}

/** As in Istio: a Telemetry targeting this service wins over the mesh-wide one of its namespace, then any. */
function telemetryFor(snapshot: Snapshot, self: string, namespace: string): TelemetryConfig | undefined {
  const all = snapshot.telemetry;
  return all.find((t) => t.targetService === self) ?? all.find((t) => t.targetService === undefined && t.namespace === namespace) ?? all.find((t) => t.targetService === undefined);
}
