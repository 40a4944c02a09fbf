// `GET /api/v1/services`: each service of the config being served, with its endpoints, the callers it
// declares and the HTTPRoute rules governing calls to it (matches, backends and weights), as the
// dashboard's service panel shows them.
import type { RouteMatch, Snapshot } from '../../src/config/types.js';

export interface CatalogRule {
  readonly route: string;
  readonly rule: string;
  readonly matches: readonly string[];
  readonly backends: readonly { readonly service: string; readonly weight: number }[];
  readonly timeoutMs: number | null;
}

export interface CatalogService {
  readonly id: string;
  readonly name: string;
  readonly namespace: string;
  readonly port: number;
  readonly protocol: string;
  readonly endpoints: readonly { readonly address: string; readonly labels: Readonly<Record<string, string>> }[];
  readonly callers: readonly string[] | null;
  readonly rules: readonly CatalogRule[];
}

function describeMatch(m: RouteMatch): string {
  const parts = [`${m.method ?? '*'} ${m.path.type === 'PathPrefix' ? `${m.path.value}*` : m.path.type === 'Exact' ? m.path.value : `~${m.path.value}`}`];
  for (const h of m.headers) parts.push(`header ${h.name}${h.type === 'Exact' ? '=' : '~'}${h.value}`);
  for (const p of m.queryParams) parts.push(`query ${p.name}${p.type === 'Exact' ? '=' : '~'}${p.value}`);
  return parts.join(', ');
}

export function serviceCatalog(snapshot: Snapshot): CatalogService[] {
  return [...snapshot.services.values()].map((svc) => ({
    id: svc.key, name: svc.name, namespace: svc.namespace, port: svc.port, protocol: svc.protocol,
    endpoints: svc.endpoints.map((e) => ({ address: e.address, labels: e.labels })),
    callers: svc.callers ?? null,
    rules: snapshot.httpRoutes.filter((r) => r.parents.some((p) => p.service === svc.key)).flatMap((r) => r.rules.map((rule) => ({
      route: `${r.namespace}/${r.name}`, rule: rule.name,
      matches: rule.matches.length === 0 ? ['* /*'] : rule.matches.map(describeMatch),
      backends: rule.backendRefs.map((b) => ({ service: b.service, weight: b.weight })),
      timeoutMs: rule.timeouts.request ?? rule.timeouts.backendRequest ?? null,
    }))),
  }));
}
