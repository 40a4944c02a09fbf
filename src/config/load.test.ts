import { describe, expect, it } from 'vitest';
import { formatIssue, parseConfig, YamlCache } from './load.js';
import type { Snapshot } from './types.js';

const SERVICES = `apiVersion: meshlight.dev/v1alpha1
kind: MeshService
metadata: {name: orders}
spec:
  endpoints: [{address: "127.0.0.1:8081"}]
---
apiVersion: meshlight.dev/v1alpha1
kind: MeshService
metadata: {name: orders-v2, namespace: shop}
spec:
  port: 8080
  endpoints: [{address: "[::1]:8082", labels: {version: v2}}]
`;

function parse(...texts: string[]): ReturnType<typeof parseConfig> {
  return parseConfig(texts.map((text, i) => ({ file: `f${i}.yaml`, text })), { defaultNamespace: 'default' });
}

function ok(...texts: string[]): Snapshot {
  const r = parse(...texts);
  if (!r.ok) throw new Error(r.errors.map(formatIssue).join('\n'));
  return r.snapshot;
}

/** The problems, formatted as the CLI prints them. */
function problems(...texts: string[]): string[] {
  const r = parse(...texts);
  if (r.ok) throw new Error('expected the config to be rejected');
  return r.errors.map(formatIssue);
}

const route = (spec: string): string => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r}
spec:
  parentRefs: [{kind: Service, name: orders}]
${spec}`;

describe('config: valid input becomes a frozen snapshot', () => {
  it('reads services with defaults, IPv6 endpoints and namespaces', () => {
    const s = ok(SERVICES);
    expect([...s.services.keys()]).toEqual(['orders.default', 'orders-v2.shop']);
    const orders = s.services.get('orders.default')!;
    expect(orders).toMatchObject({ port: 80, protocol: 'http', endpoints: [{ host: '127.0.0.1', port: 8081 }] });
    expect(s.services.get('orders-v2.shop')!.endpoints[0]).toMatchObject({ host: '::1', port: 8082, labels: { version: 'v2' } });
    expect(Object.isFrozen(orders) && Object.isFrozen(orders.endpoints)).toBe(true);
  });

  it('reads the callers a service declares, in its namespace unless named, and none when absent', () => {
    const s = ok(`apiVersion: meshlight.dev/v1alpha1
kind: MeshService
metadata: {name: payments, namespace: shop}
spec:
  callers: [orders, refunds.billing, unknown, orders]
`, SERVICES);
    expect(s.services.get('payments.shop')!.callers).toEqual(['orders.shop', 'refunds.billing', 'unknown']);
    expect(s.services.get('orders.default')!.callers).toBeUndefined();
  });

  it('refuses a caller that is not a service name, at its position', () => {
    expect(problems(`apiVersion: meshlight.dev/v1alpha1
kind: MeshService
metadata: {name: payments}
spec:
  callers: [Orders, 3]
`)).toEqual([
      'f0.yaml:5:13: spec.callers[0]: "Orders" is not a service name (name or name.namespace, lower-case DNS labels)',
      'f0.yaml:5:21: spec.callers[1]: expected a string, got number 3',
    ]);
  });

  it('fills HTTPRoute defaults: PathPrefix /, weight 1, rule names, 0s = no timeout, redirect 302', () => {
    const s = ok(SERVICES, route(`  rules:
  - backendRefs: [{name: orders}]
    timeouts: {request: 0s, backendRequest: 250ms}
  - name: moved
    matches: [{path: {type: Exact, value: /old}}]
    filters: [{type: RequestRedirect, requestRedirect: {hostname: new}}]
`));
    const [first, second] = s.httpRoutes[0]!.rules;
    expect(first).toMatchObject({
      name: 'r.0',
      matches: [{ path: { type: 'PathPrefix', value: '/' }, headers: [], queryParams: [], method: undefined }],
      backendRefs: [{ service: 'orders.default', weight: 1 }],
      timeouts: { request: undefined, backendRequest: 250 },
    });
    expect(second).toMatchObject({ name: 'r.moved', filters: [{ type: 'RequestRedirect', requestRedirect: { statusCode: 302, hostname: 'new' } }] });
    expect(s.httpRoutes[0]!.source).toBe('f1.yaml:1');
  });

  it('resolves references across files and in any order, and lower-cases header names', () => {
    const s = ok(route(`  rules:
  - matches: [{headers: [{name: X-Beta, value: "1"}], queryParams: [{name: Debug, value: on}], method: POST}]
    backendRefs: [{kind: MeshService, name: orders-v2, namespace: shop, port: 8080}]
`), SERVICES);
    const m = s.httpRoutes[0]!.rules[0]!.matches[0]!;
    expect(m.headers[0]!.name).toBe('x-beta');
    expect(m.queryParams[0]!.name).toBe('Debug');
    expect(s.httpRoutes[0]!.rules[0]!.backendRefs[0]).toEqual({ service: 'orders-v2.shop', port: 8080, weight: 1 });
  });

  it('gives equal text an equal version and changed text a new one', () => {
    expect(ok(SERVICES).version).toMatch(/^[0-9a-f]{12}$/);
    expect(ok(SERVICES).version).toBe(ok(SERVICES).version);
    expect(ok(SERVICES.replace('8081', '8083')).version).not.toBe(ok(SERVICES).version);
  });

  it('reads Telemetry with Istio-like defaults', () => {
    const s = ok(SERVICES, `apiVersion: meshlight.dev/v1alpha1
kind: Telemetry
metadata: {name: t}
spec: {tracing: {samplingPercentage: 2.5}}
`);
    expect(s.telemetry[0]).toEqual({
      name: 't', namespace: 'default', targetService: undefined,
      tracing: { samplingPercentage: 2.5, propagation: ['w3c', 'b3'] }, accessLog: { enabled: true },
    });
  });
});

describe('config: every problem is reported at its FILE:LINE:COL', () => {
  it('YAML syntax errors', () => {
    expect(problems('kind: MeshService\nspec: [1, 2\n')).toEqual([expect.stringMatching(/^f0\.yaml:\d+:\d+: YAML syntax: /)]);
    expect(problems('a: 1\na: 2\n')).toEqual(['f0.yaml:2:1: YAML syntax: Map keys must be unique']);
  });

  it('wrong types, unknown fields and unknown kinds, all in one pass', () => {
    expect(problems(`apiVersion: meshlight.dev/v1alpha1
kind: MeshService
metadata: {name: a}
spec:
  port: "80"
  protocl: http
  endpoints: [{address: nohost}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: x}
spec: {}
`)).toEqual([
      'f0.yaml:5:9: spec.port: expected a number, got string "80"',
      'f0.yaml:6:3: spec.protocl: unknown field (expected one of: port, protocol, endpoints, callers)',
      'f0.yaml:7:25: spec.endpoints[0].address: "nohost" is not HOST:PORT (IPv6 as [::1]:8080, port 1-65535)',
      'f0.yaml:10:7: unknown kind "ConfigMap" (expected one of: MeshService, HTTPRoute, Telemetry)',
    ]);
  });

  it('unknown backends and parents, negative weights, bad regexes, bad durations', () => {
    expect(problems(SERVICES, route(`  rules:
  - matches: [{path: {type: RegularExpression, value: "/a(["}}]
    backendRefs: [{name: nope, weight: -1}]
    timeouts: {request: 2 seconds}
`))).toEqual([
      'f1.yaml:7:55: spec.rules[0].matches[0].path.value: invalid regular expression: Unterminated character class',
      'f1.yaml:8:26: spec.rules[0].backendRefs[0].name: unknown service "nope.default" (known: orders.default, orders-v2.shop)',
      'f1.yaml:8:40: spec.rules[0].backendRefs[0].weight: must be an integer from 0 to 1000000, got -1',
      'f1.yaml:9:25: spec.rules[0].timeouts.request: "2 seconds" is not a duration (e.g. 250ms, 2s, 1m)',
    ]);
  });

  it('Gateway API rules: ReplacePrefixMatch needs PathPrefix, redirect excludes rewrite, backendRequest <= request', () => {
    const errs = problems(SERVICES, route(`  rules:
  - matches: [{path: {type: Exact, value: /a}}]
    filters:
    - {type: URLRewrite, urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /b}}}
    - {type: RequestRedirect, requestRedirect: {statusCode: 305}}
    timeouts: {request: 1s, backendRequest: 2s}
`));
    expect(errs).toEqual([
      'f1.yaml:9:5: spec.rules[0].filters: RequestRedirect and URLRewrite cannot be used in the same rule',
      'f1.yaml:9:5: spec.rules[0].filters: ReplacePrefixMatch needs every match of the rule to be a PathPrefix match',
      'f1.yaml:10:61: spec.rules[0].filters[1].requestRedirect.statusCode: redirect status must be 301, 302, 303, 307 or 308, got 305',
      'f1.yaml:11:45: spec.rules[0].timeouts.backendRequest: must not be longer than timeouts.request',
    ]);
  });

  it('says which parts of the contract are not supported yet instead of ignoring them', () => {
    const errs = problems(SERVICES, route(`  rules:
  - backendRefs: [{name: orders}]
    retry: {attempts: 3}
    filters: [{type: RequestMirror, requestMirror: {backendRef: {name: orders}}}]
`), `apiVersion: meshlight.dev/v1alpha1
kind: TrafficPolicy
metadata: {name: p}
spec: {}
`);
    expect(errs).toEqual([
      'f1.yaml:8:12: spec.rules[0].retry: not supported by this version yet',
      expect.stringMatching(/^f1\.yaml:9:\d+: spec\.rules\[0\]\.filters\[0\]\.type: filter RequestMirror is not supported by this version yet$/),
      'f2.yaml:2:7: kind TrafficPolicy is not supported by this version yet',
    ]);
  });

  it('mesh routes need a Service parent and no hostnames; names are unique per kind and namespace', () => {
    const errs = problems(SERVICES, `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r}
spec:
  hostnames: [orders.example.com]
  parentRefs: [{kind: Gateway, name: gw}]
  rules: [{backendRefs: [{name: orders}]}]
`, SERVICES);
    expect(errs).toEqual([
      expect.stringMatching(/^f1\.yaml:5:14: spec\.hostnames: has no meaning for a mesh route/),
      expect.stringMatching(/^f1\.yaml:6:\d+: spec\.parentRefs\[0\]\.kind: meshlight routes calls between services \(GAMMA\)/),
      'f2.yaml:3:18: MeshService default/orders is already defined at f0.yaml:1',
      'f2.yaml:9:18: MeshService shop/orders-v2 is already defined at f0.yaml:7',
    ]);
  });
});

describe('a reload through a YamlCache', () => {
  const route = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: orders}
spec:
  parentRefs: [{kind: Service, name: orders}]
  rules: [{backendRefs: [{name: orders}]}]
`;

  it('reuses an unchanged file and still reports its problems where they are when another file changes', () => {
    const cache = new YamlCache();
    const first = parseConfig([{ file: 'services.yaml', text: SERVICES }, { file: 'route.yaml', text: route }], { defaultNamespace: 'default', cache });
    expect(first.ok).toBe(true);
    const parsedRoute = cache.get({ file: 'route.yaml', text: route });
    // services.yaml loses orders: the unchanged, cached route.yaml now names an unknown service.
    const second = parseConfig([{ file: 'services.yaml', text: SERVICES.split('---')[1]! }, { file: 'route.yaml', text: route }], { defaultNamespace: 'default', cache });
    expect(cache.get({ file: 'route.yaml', text: route })).toBe(parsedRoute);
    expect(second.ok).toBe(false);
    if (second.ok) return;
    expect(second.errors.map(formatIssue)).toEqual([expect.stringMatching(/^route\.yaml:5:\d+: .*orders/), expect.stringMatching(/^route\.yaml:6:\d+: .*orders/)]);
    // The same texts without a cache give the same answer.
    const fresh = parseConfig([{ file: 'services.yaml', text: SERVICES.split('---')[1]! }, { file: 'route.yaml', text: route }], { defaultNamespace: 'default' });
    expect(fresh).toEqual(second);
  });

  it('forgets a file that is gone', () => {
    const cache = new YamlCache();
    parseConfig([{ file: 'a.yaml', text: SERVICES }], { defaultNamespace: 'default', cache });
    const before = cache.get({ file: 'a.yaml', text: SERVICES });
    parseConfig([{ file: 'b.yaml', text: SERVICES }], { defaultNamespace: 'default', cache });
    expect(cache.get({ file: 'a.yaml', text: SERVICES })).not.toBe(before);
  });
});
