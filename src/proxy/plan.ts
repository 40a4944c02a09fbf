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

/** Distinct calling services an inbound listener labels by name; callers past it are `unknown`. */
const MAX_SOURCES = 256;

export class InboundPlan {
  private readonly bySource = new Map<string, RouteSeries>();
  private readonly unknownSource: RouteSeries;

  constructor(
    readonly cluster: Cluster,
    readonly chain: FilterChain,
    private readonly series: (source: string) => RouteSeries,
    /** The services of the mesh: the only callers taken by name. */
    private readonly known: ReadonlySet<string>,
  ) {
    this.unknownSource = series('unknown');
    this.bySource.set('', this.unknownSource); // no caller header: a caller without a sidecar, the common miss
  }

  /**
   * Metric labels by calling service (`name.namespace`, from the caller sidecar's header). The header
   * is untrusted: a name that is not a service of the mesh (those of the snapshot, or the list the
   * control plane sends) is `unknown`, and so is any past MAX_SOURCES, so a client cannot invent labels.
   */
  sourceSeries(source: string): RouteSeries {
    const s = this.bySource.get(source);
    if (s !== undefined) return s;
    if (this.bySource.size >= MAX_SOURCES || !this.known.has(source)) return this.unknownSource;
    const created = this.series(source);
    this.bySource.set(source, created);
    return created;
  }
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

/** `meshServices`: every service key of the mesh, the callers inbound metrics may name and the names a 404 can point to. */
export function buildPlan(snapshot: Snapshot, opts: PlanOptions, clusterManager: ClusterManager, metrics: MeshMetrics, meshServices: ReadonlySet<string>): ProxyPlan {
  const inboundName = `inbound|${opts.service ?? 'app'}`;
  const extra = opts.appPort !== undefined ? [{ name: inboundName, address: `127.0.0.1:${opts.appPort}` }] : [];
  const clusters = clusterManager.build(snapshot, extra);
  const self = selfName(opts);
  const routes = new RouteTable(snapshot, clusters, opts.namespace, (dst, route) => metrics.route('source', self, dst, route), meshServices);
  let inbound: InboundPlan | undefined;
  if (opts.appPort !== undefined) {
    inbound = new InboundPlan(clusters.get(inboundName)!, FilterChain.EMPTY, (source) => metrics.route('destination', source, self, '-'), meshServices);
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
