// The outbound routing plan for one snapshot: every name a service answers to, and per service its
// HTTPRoute rules in precedence order, each with its filter chain and weighted backends.
import type { HttpRoute, MeshService, RouteFilter, RouteRule, Snapshot } from '../../config/types.js';
import { SERVICE_HOST } from '../../config/kinds/common.js';
import { FilterChain, type HttpFilter } from '../filters/filter.js';
import { createRequestHeaderModifier, createResponseHeaderModifier } from '../filters/header-modifier/index.js';
import { createRequestRedirect } from '../filters/request-redirect/index.js';
import { createUrlRewrite } from '../filters/url-rewrite/index.js';
import type { HeaderList } from '../headers.js';
import type { RouteSeries } from '../../telemetry/mesh-metrics.js';
import type { Cluster } from '../upstream/cluster.js';
import { WeightedBackends } from './backends.js';
import { CompiledMatch } from './match.js';

export class CompiledRule {
  constructor(
    /** What metrics and logs call this route. */
    readonly name: string,
    readonly chain: FilterChain,
    readonly backends: WeightedBackends,
    /** The tighter of timeouts.request and timeouts.backendRequest, in ms; 0 = none. */
    readonly timeoutMs: number,
    /** This rule's metric labels, built once: the request only adds method, status and flags. */
    readonly series: RouteSeries,
  ) {}
}

interface Entry {
  readonly match: CompiledMatch;
  readonly rule: CompiledRule;
}

export class ServiceRoutes {
  private readonly needsQuery: boolean;

  constructor(
    readonly service: MeshService,
    private readonly entries: readonly Entry[],
    /** Metric labels of calls to this service that no rule matches. */
    readonly unmatched: RouteSeries,
  ) {
    this.needsQuery = entries.some((e) => e.match.queryParams.length > 0);
  }

  /** The first rule, in precedence order, whose match accepts the request; `prefix` out-param for rewrites. */
  match(method: string, path: string, query: string, headers: HeaderList): Entry | undefined {
    const params = this.needsQuery && query.length > 1 ? new URLSearchParams(query.slice(1)) : undefined;
    const entries = this.entries;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      if (e.match.test(method, path, headers, params)) return e;
    }
    return undefined;
  }
}

/** Metric labels for calls to `destination` by `route` ('-' when none applies). */
export type SeriesFactory = (destination: string, route: string) => RouteSeries;

export class RouteTable {
  private readonly byHost = new Map<string, ServiceRoutes>();
  /**
   * The original destination of a call behind `meshlight iptables`: an app that dials an endpoint's
   * `ip:port` sends it as the Host, so the address names the service (the first one listing it).
   */
  private readonly byAddress = new Map<string, ServiceRoutes>();
  /** Service keys by bare name, for the 404 of a name that exists in another namespace. */
  private readonly byName = new Map<string, string[]>();
  /** Metric labels of calls to a host that is no service of the mesh. */
  readonly unknown: RouteSeries;

  /** `meshServices`: every service key of the mesh (a control plane's view holds only some of them). */
  constructor(snapshot: Snapshot, clusters: ReadonlyMap<string, Cluster>, private readonly localNamespace: string, series: SeriesFactory, meshServices: Iterable<string> = snapshot.services.keys()) {
    this.unknown = series('unknown', '-');
    const routesByService = new Map<string, { route: HttpRoute; rule: RouteRule }[]>();
    for (const route of snapshot.httpRoutes) {
      for (const parent of route.parents) {
        let list = routesByService.get(parent.service);
        if (list === undefined) routesByService.set(parent.service, (list = []));
        for (const rule of route.rules) list.push({ route, rule });
      }
    }
    for (const key of meshServices) {
      const name = key.slice(0, key.indexOf('.'));
      this.byName.set(name, [...(this.byName.get(name) ?? []), key]);
    }
    for (const svc of snapshot.services.values()) {
      const rules = routesByService.get(svc.key);
      const entries = rules === undefined ? [defaultEntry(svc, clusters, series)] : compileEntries(svc, rules, clusters, series);
      const routes = new ServiceRoutes(svc, entries, series(svc.key, '-'));
      for (const name of hostNames(svc, localNamespace)) {
        this.byHost.set(name, routes);
        this.byHost.set(`${name}:${svc.port}`, routes);
      }
      for (const ep of svc.endpoints) if (!this.byAddress.has(ep.address)) this.byAddress.set(ep.address, routes);
    }
  }

  /** `authority` is a Host header or the authority of an absolute-form target. */
  resolve(authority: string): ServiceRoutes | undefined {
    return this.byHost.get(authority) ?? this.byHost.get(authority.toLowerCase()) ?? this.byAddress.get(authority);
  }

  /** Why `authority` names no service, for its 404: the services of that name in other namespaces, if any. */
  unknownReason(authority: string): string {
    if (authority === '') return 'no Host header: cannot tell which service is called';
    const key = serviceKey(authority, this.localNamespace);
    const others = key === undefined ? undefined : this.byName.get(key.slice(0, key.indexOf('.')));
    const hint = others === undefined ? '' : `; the mesh has ${others.sort().join(', ')} (this sidecar's namespace is ${this.localNamespace}: use name.namespace or --namespace)`;
    return `no service '${authority}' in the mesh${hint}`;
  }
}

function hostNames(svc: MeshService, localNamespace: string): string[] {
  const names = [`${svc.name}.${svc.namespace}`, `${svc.name}.${svc.namespace}.svc`, `${svc.name}.${svc.namespace}.svc.cluster.local`];
  if (svc.namespace === localNamespace) names.push(svc.name);
  return names;
}

/** The inverse of hostNames: the `name.namespace` a host can be a mesh service by (`orders`, `orders.shop.svc.cluster.local:80`), or undefined. */
export function serviceKey(authority: string, namespace: string): string | undefined {
  const host = authority.replace(/:\d+$/, '').toLowerCase().replace(/\.svc(\.cluster\.local)?$/, '');
  if (!SERVICE_HOST.test(host)) return undefined;
  return host.includes('.') ? host : `${host}.${namespace}`;
}

function defaultEntry(svc: MeshService, clusters: ReadonlyMap<string, Cluster>, series: SeriesFactory): Entry {
  const match = new CompiledMatch({ path: { type: 'PathPrefix', value: '/' }, headers: [], queryParams: [], method: undefined });
  const rule = new CompiledRule('default', FilterChain.EMPTY, new WeightedBackends([clusters.get(svc.key)!], [1]), 0, series(svc.key, 'default'));
  return { match, rule };
}

function compileEntries(
  svc: MeshService,
  rules: readonly { route: HttpRoute; rule: RouteRule }[],
  clusters: ReadonlyMap<string, Cluster>,
  series: SeriesFactory,
): Entry[] {
  const entries: Entry[] = [];
  for (const { rule } of rules) {
    const backends = new WeightedBackends(
      rule.backendRefs.map((b) => clusters.get(b.service)!),
      rule.backendRefs.map((b) => b.weight),
    );
    const { request, backendRequest } = rule.timeouts;
    const timeoutMs = Math.min(request || Infinity, backendRequest || Infinity);
    const chain = new FilterChain(rule.filters.map(createFilter));
    const compiled = new CompiledRule(rule.name, chain, backends, timeoutMs === Infinity ? 0 : timeoutMs, series(svc.key, rule.name));
    for (const m of rule.matches) entries.push({ match: new CompiledMatch(m), rule: compiled });
  }
  // Array.prototype.sort is stable: ties keep route (namespace/name), rule and match order.
  return entries.sort((a, b) => CompiledMatch.compare(a.match, b.match));
}

function createFilter(f: RouteFilter): HttpFilter {
  switch (f.type) {
    case 'RequestHeaderModifier':
      return createRequestHeaderModifier(f.requestHeaderModifier);
    case 'ResponseHeaderModifier':
      return createResponseHeaderModifier(f.responseHeaderModifier);
    case 'URLRewrite':
      return createUrlRewrite(f.urlRewrite);
    case 'RequestRedirect':
      return createRequestRedirect(f.requestRedirect);
  }
}
