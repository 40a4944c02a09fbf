import { describe, expect, it } from 'vitest';
import { DURATION_BUCKETS } from '../../src/telemetry/mesh-metrics.js';
import type { Edge, TelemetryReport } from '../proto/index.js';
import { checkReport, MAX_REPORT_EDGES, nodeProblem, requestProblem } from './sidecar-input.js';

const MESH = new Set(['frontend.default', 'orders.default']);

function edge(source: string, destination: string, requests: number, more: Partial<Edge> = {}): Edge {
  const bucket_counts = new Array<number>(DURATION_BUCKETS.length + 1).fill(0);
  bucket_counts[0] = requests;
  return { source, destination, protocol: 'http', requests, errors: 0, denied: 0, bucket_counts, duration_sum_seconds: 0, ...more };
}

function check(edges: Edge[], sender: string | undefined): ReturnType<typeof checkReport> {
  const report: TelemetryReport = { node: null, timestamp_ms: 0, period_ms: 0, bucket_bounds: DURATION_BUCKETS, edges };
  return checkReport(report, sender, (s) => MESH.has(s));
}

describe('what a sidecar sends, checked', () => {
  it('takes node ids, services and addresses of the shapes sidecars use, and nothing else', () => {
    expect(nodeProblem({ id: 'orders-7d9f/10.0.0.7:15006', service: 'orders', namespace: 'shop', address: '[::1]:15006' })).toBeUndefined();
    expect(nodeProblem({ id: 'host/42', service: '', namespace: '', address: '' })).toBeUndefined();
    for (const bad of [{ id: '' }, { id: '<b>' }, { id: 'a\nb' }, { id: 'x'.repeat(254) }, { service: 'Orders' }, { namespace: 'a.b' }, { address: 'a b' }]) {
      expect(nodeProblem({ id: 'ok/1', service: 'orders', namespace: 'default', address: '', ...bad }), JSON.stringify(bad)).toBeDefined();
    }
    expect(nodeProblem(null)).toMatch(/must name its node/);
  });

  it('takes subscriptions of service keys only, and versions and nonces of the control plane\'s shape', () => {
    const req = { node: null, version_info: 'abc123', response_nonce: '7', resource_names: ['orders.default'], error_detail: null };
    expect(requestProblem(req)).toBeUndefined();
    expect(requestProblem({ ...req, resource_names: ['orders'] })).toMatch(/service keys/);
    expect(requestProblem({ ...req, resource_names: [`${'a'.repeat(1000)}.default`] })).toMatch(/service keys/);
    expect(requestProblem({ ...req, version_info: 'v\n1' })).toMatch(/version_info/);
  });

  it('keeps only the sender\'s own edges to services of the mesh, with consistent counts', () => {
    const { report, rejected } = check([
      edge('frontend.default', 'orders.default', 10, { errors: 99, denied: 99 }),
      edge('unknown', 'frontend.default', 2),
      edge('orders.default', 'frontend.default', 5),
      edge('unknown', 'orders.default', 5),
      edge('frontend.default', 'ghost.default', 5),
      edge('frontend.default', 'orders.default', 1),
      edge('frontend.default', 'frontend.default', 2 ** 60),
      edge('frontend.default', 'frontend.default', 3, { protocol: 'smtp' }),
    ], 'frontend.default');
    expect(report.edges.map((e) => [e.source, e.destination, e.requests, e.errors, e.denied])).toEqual([
      ['frontend.default', 'orders.default', 10, 10, 10], ['unknown', 'frontend.default', 2, 0, 0],
    ]);
    expect(Object.fromEntries(rejected)).toEqual({ not_reporter: 2, unknown_service: 1, duplicate: 1, bad_count: 1, bad_protocol: 1 });
    // A sidecar without a service reports nobody's calls.
    expect(check([edge('frontend.default', 'orders.default', 1)], undefined).report.edges).toEqual([]);
  });

  it('drops the latency of an edge whose buckets do not add up to its requests, and edges past the cap', () => {
    const { report } = check([edge('frontend.default', 'orders.default', 10, { bucket_counts: [3] })], 'frontend.default');
    expect(report.edges[0]).toMatchObject({ requests: 10, bucket_counts: [] });
    const many = check(Array.from({ length: MAX_REPORT_EDGES + 5 }, () => edge('frontend.default', 'orders.default', 1)), 'frontend.default');
    expect(many.rejected.get('too_many')).toBe(5);
    expect(many.rejected.get('duplicate')).toBe(MAX_REPORT_EDGES - 1);
  });
});
