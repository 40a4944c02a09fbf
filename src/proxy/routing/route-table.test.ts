import { describe, expect, it } from 'vitest';
import type { HttpRoute, MeshService, RouteMatch, RouteRule, Snapshot } from '../../config/types.js';
import { ClusterManager } from '../upstream/cluster.js';
import { RouteTable } from './route-table.js';
import { MeshMetrics } from '../../telemetry/mesh-metrics.js';

function service(name: string, namespace = 'default'): MeshService {
  return { key: `${name}.${namespace}`, name, namespace, port: 80, protocol: 'http', endpoints: [], callers: undefined };
}

function match(path: RouteMatch['path'], extra: Partial<RouteMatch> = {}): RouteMatch {
  return { path, headers: [], queryParams: [], method: undefined, ...extra };
}

function rule(name: string, matches: RouteMatch[]): RouteRule {
  return { name, matches, filters: [], backendRefs: [{ service: 'orders.default', port: undefined, weight: 1 }], timeouts: { request: undefined, backendRequest: undefined } };
}

function table(rules: RouteRule[]): RouteTable {
  const services = [service('orders'), service('payments', 'billing')];
  const route: HttpRoute = { name: 'r', namespace: 'default', parents: [{ service: 'orders.default', port: undefined }], rules, source: 'x.yaml:1' };
  const snapshot: Snapshot = { version: 'v', services: new Map(services.map((s) => [s.key, s])), httpRoutes: [route], telemetry: [], sources: [] };
  const metrics = new MeshMetrics();
  return new RouteTable(snapshot, new ClusterManager({ connectTimeoutMs: 1000 }).build(snapshot, []), 'default', (dst, route) => metrics.route('source', 'test', dst, route));
}

const ruleFor = (t: RouteTable, method: string, target: string, headers: string[] = []): string | undefined => {
  const q = target.indexOf('?');
  const [path, query] = q === -1 ? [target, ''] : [target.slice(0, q), target.slice(q)];
  return t.resolve('orders')!.match(method, path, query, headers)?.rule.name;
};

describe('route table', () => {
  it('answers to every name form of a service, bare names only in the local namespace', () => {
    const t = table([]);
    for (const host of ['orders', 'orders:80', 'orders.default', 'orders.default.svc:80', 'orders.default.svc.cluster.local', 'ORDERS.default']) {
      expect(t.resolve(host)?.service.key, host).toBe('orders.default');
    }
    expect(t.resolve('payments')).toBeUndefined();
    expect(t.resolve('payments.billing')?.service.key).toBe('payments.billing');
    expect(t.resolve('orders:81')).toBeUndefined();
  });

  it('orders matches Exact, then regex, then longest prefix, whatever the rule order', () => {
    const t = table([
      rule('prefix-root', [match({ type: 'PathPrefix', value: '/' })]),
      rule('prefix-api', [match({ type: 'PathPrefix', value: '/api' })]),
      rule('prefix-api-v2', [match({ type: 'PathPrefix', value: '/api/v2/' })]),
      rule('regex', [match({ type: 'RegularExpression', value: '/api/v[0-9]+/items' })]),
      rule('exact', [match({ type: 'Exact', value: '/api/v2/items' })]),
    ]);
    expect(ruleFor(t, 'GET', '/api/v2/items')).toBe('exact');
    expect(ruleFor(t, 'GET', '/api/v3/items')).toBe('regex');
    expect(ruleFor(t, 'GET', '/api/v3/items/1')).toBe('prefix-api');
    expect(ruleFor(t, 'GET', '/api/v2')).toBe('prefix-api-v2');
    expect(ruleFor(t, 'GET', '/api/v2/x')).toBe('prefix-api-v2');
    expect(ruleFor(t, 'GET', '/apix')).toBe('prefix-root');
  });

  it('on equal paths prefers a method match, then more header matches, then more query matches', () => {
    const t = table([
      rule('plain', [match({ type: 'PathPrefix', value: '/' })]),
      rule('query', [match({ type: 'PathPrefix', value: '/' }, { queryParams: [{ type: 'Exact', name: 'beta', value: '1' }] })]),
      rule('header', [match({ type: 'PathPrefix', value: '/' }, { headers: [{ type: 'RegularExpression', name: 'x-user', value: 'a.*' }] })]),
      rule('post', [match({ type: 'PathPrefix', value: '/' }, { method: 'POST' })]),
    ]);
    expect(ruleFor(t, 'POST', '/x?beta=1', ['x-user', 'ann'])).toBe('post');
    expect(ruleFor(t, 'GET', '/x?beta=1', ['x-user', 'ann'])).toBe('header');
    expect(ruleFor(t, 'GET', '/x?beta=1', ['x-user', 'bob'])).toBe('query');
    expect(ruleFor(t, 'GET', '/x?beta=2')).toBe('plain');
  });

  it('finds no rule when nothing matches', () => {
    const t = table([rule('exact', [match({ type: 'Exact', value: '/only' })])]);
    expect(ruleFor(t, 'GET', '/other')).toBeUndefined();
  });
});
