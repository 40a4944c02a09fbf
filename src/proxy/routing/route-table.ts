// The outbound routing plan for one snapshot: every name a service answers to, and per service its
// HTTPRoute rules in precedence order, each with its filter chain and weighted backends.
import type { HttpRoute, MeshService, RouteFilter, RouteRule, Snapshot } from '../../config/types.js';
import { FilterChain, type HttpFilter } from '../filters/filter.js';
import { createRequestHeaderModifier, createResponseHeaderModifier } from '../filters/header-modifier/index.js';
import { createRequestRedirect } from '../filters/request-redirect/index.js';
import { createUrlRewrite } from '../filters/url-rewrite/index.js';
import type { HeaderList } from '../headers.js';
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

export class RouteTable {
  private readonly byHost = new Map<string, ServiceRoutes>();

  constructor(snapshot: Snapshot, clusters: ReadonlyMap<string, Cluster>, localNamespace: string) {
    const routesByService = new Map<string, { route: HttpRoute; rule: RouteRule }[]>();
    for (const route of snapshot.httpRoutes) {
      for (const parent of route.parents) {
        let list = routesByService.get(parent.service);
        if (list === undefined) routesByService.set(parent.service, (list = []));
        for (const rule of route.rules) list.push({ route, rule });
      }
    }
    for (const svc of snapshot.services.values()) {
      const rules = routesByService.get(svc.key);
      const entries = rules === undefined ? [defaultEntry(svc, clusters)] : compileEntries(rules, clusters);
      const routes = new ServiceRoutes(svc, entries);
      for (const name of hostNames(svc, localNamespace)) {
        this.byHost.set(name, routes);
        this.byHost.set(`${name}:${svc.port}`, routes);
      }
    }
  }

  /** `authority` is a Host header or the authority of an absolute-form target. */
  resolve(authority: string): ServiceRoutes | undefined {
    return this.byHost.get(authority) ?? this.byHost.get(authority.toLowerCase());
  }
}

function hostNames(svc: MeshService, localNamespace: string): string[] {
  const names = [`${svc.name}.${svc.namespace}`, `${svc.name}.${svc.namespace}.svc`, `${svc.name}.${svc.namespace}.svc.cluster.local`];
  if (svc.namespace === localNamespace) names.push(svc.name);
  return names;
}

function defaultEntry(svc: MeshService, clusters: ReadonlyMap<string, Cluster>): Entry {
  const match = new CompiledMatch({ path: { type: 'PathPrefix', value: '/' }, headers: [], queryParams: [], method: undefined });
  const rule = new CompiledRule('default', FilterChain.EMPTY, new WeightedBackends([clusters.get(svc.key)!], [1]), 0);
  return { match, rule };
}

function compileEntries(rules: readonly { route: HttpRoute; rule: RouteRule }[], clusters: ReadonlyMap<string, Cluster>): Entry[] {
  const entries: Entry[] = [];
  for (const { rule } of rules) {
    const backends = new WeightedBackends(
      rule.backendRefs.map((b) => clusters.get(b.service)!),
      rule.backendRefs.map((b) => b.weight),
    );
    const { request, backendRequest } = rule.timeouts;
    const timeoutMs = Math.min(request || Infinity, backendRequest || Infinity);
    const compiled = new CompiledRule(rule.name, new FilterChain(rule.filters.map(createFilter)), backends, timeoutMs === Infinity ? 0 : timeoutMs);
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
