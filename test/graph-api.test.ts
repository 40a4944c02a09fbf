// The control plane's graph endpoints on a real HTTP server: the topology API (/api/v1/graph) and the
// Grafana Node Graph API data source (/api/health, /api/graph/fields, /api/graph/data), fed by the
// in-memory window of sidecar reports.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Edge, TelemetryReport } from '../control-plane/proto/index.js';
import { handleGraphRequest } from '../control-plane/src/graph/api.js';
import { PrometheusGraph } from '../control-plane/src/graph/prometheus.js';
import type { GraphSource } from '../control-plane/src/graph/types.js';
import { TelemetryWindow } from '../control-plane/src/graph/window.js';
import { parseConfig } from '../src/config/load.js';
import type { Snapshot } from '../src/config/types.js';
import { DURATION_BUCKETS } from '../src/telemetry/mesh-metrics.js';
import { freePort } from './helpers/net.js';

/** An edge whose calls fall in the buckets named by their upper bound in seconds (the sidecars' DURATION_BUCKETS). */
function edge(source: string, destination: string, requests: number, errors: number, calls: Record<number, number>): Edge {
  const bucket_counts = new Array<number>(DURATION_BUCKETS.length + 1).fill(0);
  for (const [bound, n] of Object.entries(calls)) bucket_counts[DURATION_BUCKETS.indexOf(Number(bound))]! += n;
  return { source, destination, protocol: 'http', requests, errors, denied: 0, bucket_counts, duration_sum_seconds: 0 };
}

function report(edges: Edge[]): TelemetryReport {
  return { node: null, timestamp_ms: Date.now(), period_ms: 5_000, bucket_bounds: DURATION_BUCKETS, edges };
}

function snapshotOf(yaml: string): Snapshot {
  const parsed = parseConfig([{ file: 'mesh.yaml', text: yaml }], { defaultNamespace: 'default' });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.snapshot;
}

const NOTHING_DECLARED = snapshotOf('');

async function serve(source: GraphSource, snapshot = NOTHING_DECLARED): Promise<{ server: Server; base: string }> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (!handleGraphRequest(req, res, url, source, snapshot)) res.writeHead(404).end('not a graph path');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

async function get(base: string, path: string): Promise<{ status: number; type: string; body: any }> {
  const res = await fetch(base + path);
  const text = await res.text();
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: res.headers.get('content-type')?.startsWith('application/json') ? JSON.parse(text) : text };
}

describe('the graph endpoints on a real server, fed with sidecar reports', () => {
  const window = new TelemetryWindow();
  let server: Server;
  let base: string;

  beforeAll(async () => {
    // frontend -> orders: 60 calls, 6 errors; orders -> payments: 30 calls; an external client -> frontend: 12.
    window.ingest(report([edge('frontend.default', 'orders.default', 60, 6, { 0.01: 30, 0.05: 30 })]));
    window.ingest(report([edge('orders.default', 'payments.default', 30, 0, { 0.005: 30 }), edge('unknown', 'frontend.default', 12, 0, { 0.1: 12 })]));
    ({ server, base } = await serve(window));
  });

  afterAll(async () => {
    await new Promise((r) => server.close(r));
  });

  it('serves /api/v1/graph with every service as a node and every caller->callee pair as an edge', async () => {
    const { status, type, body } = await get(base, '/api/v1/graph');
    expect(status).toBe(200);
    expect(type).toMatch(/^application\/json/);
    expect(body.window).toBe('60s');
    expect(Math.abs(Date.parse(body.generatedAt) - Date.now())).toBeLessThan(10_000);
    expect(body.nodes.map((n: { id: string }) => n.id)).toEqual(['frontend.default', 'orders.default', 'payments.default', 'unknown']);
    expect(body.edges.map((e: { id: string }) => e.id)).toEqual(['frontend.default->orders.default', 'orders.default->payments.default', 'unknown->frontend.default']);
    const fo = body.edges[0];
    expect(fo).toMatchObject({ source: 'frontend.default', target: 'orders.default', protocol: 'http', requests: 60, errors: 6, denied: 0, errorRate: 0.1, rps: 1 });
    // 30 in (5, 10] ms and 30 in (25, 50] ms: the median ends the first of them, p99 is 29.4/30 into the second.
    expect(fo.p50).toBeCloseTo(10, 6);
    expect(fo.p99).toBeCloseTo(25 + 25 * (29.4 / 30), 6);
    const orders = body.nodes.find((n: { id: string }) => n.id === 'orders.default');
    expect(orders).toMatchObject({ service: 'orders', namespace: 'default', requests: 60, errors: 6, errorRate: 0.1, rps: 1 });
    expect(body.nodes.find((n: { id: string }) => n.id === 'unknown')).toMatchObject({ requests: 0, rps: 0 });
  });

  it('takes ?window= as a duration and answers a bad one with 400 and the reason', async () => {
    const five = await get(base, '/api/v1/graph?window=5m');
    expect(five.status).toBe(200);
    expect(five.body.window).toBe('300s');
    expect(five.body.edges[0].rps).toBeCloseTo(60 / 300, 9);
    for (const [w, why] of [['abc', /not a duration/], ['1s', /outside 5s to 900s/], ['2h', /outside/], ['1h', /keeps 900s in memory/]] as const) {
      const bad = await get(base, `/api/v1/graph?window=${w}`);
      expect(bad.status, w).toBe(400);
      expect(bad.body.error, w).toMatch(why);
    }
  });

  it('answers the Node Graph API data source: health, fields and data', async () => {
    expect((await get(base, '/api/health')).status).toBe(200);
    const fields = await get(base, '/api/graph/fields');
    expect(fields.status).toBe(200);
    const names = (list: { field_name: string }[]): string[] => list.map((f) => f.field_name);
    expect(names(fields.body.nodes_fields)).toEqual(expect.arrayContaining(['id', 'title', 'subTitle', 'mainStat', 'secondaryStat', 'arc__success', 'arc__errors']));
    expect(names(fields.body.edges_fields)).toEqual(expect.arrayContaining(['id', 'source', 'target', 'mainStat', 'secondaryStat']));
    expect(fields.body.nodes_fields.find((f: { field_name: string }) => f.field_name === 'arc__errors')).toMatchObject({ type: 'number', color: 'red' });
    for (const f of [...fields.body.nodes_fields, ...fields.body.edges_fields]) expect(['string', 'number']).toContain(f.type);

    const data = await get(base, '/api/graph/data');
    expect(data.status).toBe(200);
    expect(data.body.nodes).toHaveLength(4);
    expect(data.body.edges).toHaveLength(3);
    const orders = data.body.nodes.find((n: { id: string }) => n.id === 'orders.default');
    expect(orders).toMatchObject({ title: 'orders', subTitle: 'default', mainStat: '1.00 req/s' });
    expect(orders.arc__success + orders.arc__errors).toBeCloseTo(1, 9);
    expect(orders.arc__errors).toBeCloseTo(0.1, 9);
    expect(data.body.edges.find((e: { id: string }) => e.id === 'frontend.default->orders.default')).toMatchObject({ source: 'frontend.default', target: 'orders.default', mainStat: '1.00 req/s', secondaryStat: '10.0% errors' });
    // The data source appends its Query String, e.g. window=5m.
    const fiveMin = await get(base, '/api/graph/data?window=5m');
    expect(fiveMin.body.edges.find((e: { id: string }) => e.id === 'frontend.default->orders.default').mainStat).toBe('0.20 req/s');
  });

  it('leaves other paths to the caller and refuses methods other than GET', async () => {
    expect(await get(base, '/api/v1/sidecars')).toMatchObject({ status: 404, body: 'not a graph path' });
    const post = await fetch(`${base}/api/v1/graph`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });

  it('answers 502 naming the cause when the graph source fails (Prometheus down)', async () => {
    const deadPort = await freePort();
    const dead = await serve(new PrometheusGraph(`http://127.0.0.1:${deadPort}`));
    try {
      const r = await get(dead.base, '/api/v1/graph');
      expect(r.status).toBe(502);
      expect(r.body.error).toMatch(new RegExp(`Prometheus at http://127\\.0\\.0\\.1:${deadPort} is unreachable: .*ECONNREFUSED`));
    } finally {
      await new Promise((r) => dead.server.close(r));
    }
  });
});

describe('expected against observed: the callers each service declares laid over the calls seen', () => {
  const window = new TelemetryWindow();
  let served: { server: Server; base: string };
  const service = (name: string, callers: string): string =>
    `apiVersion: meshlight.dev/v1alpha1\nkind: MeshService\nmetadata: {name: ${name}}\nspec:\n  endpoints: [{address: 127.0.0.1:1}]\n${callers}`;

  beforeAll(async () => {
    // orders expects frontend; payments expects orders and refunds (which sent nothing); frontend declares nothing.
    const snapshot = snapshotOf([
      service('frontend', ''), service('orders', '  callers: [frontend]\n'), service('payments', '  callers: [orders, refunds.billing]\n'),
    ].join('---\n'));
    window.ingest(report([
      edge('unknown', 'frontend.default', 10, 0, { 0.005: 10 }),
      edge('frontend.default', 'orders.default', 10, 0, { 0.005: 10 }),
      edge('orders.default', 'payments.default', 5, 0, { 0.005: 5 }),
      edge('frontend.default', 'payments.default', 2, 1, { 0.005: 2 }),
    ]));
    served = await serve(window, snapshot);
  });

  afterAll(async () => {
    await new Promise((r) => served.server.close(r));
  });

  it('flags an edge the callee does not declare, and adds a declared edge without traffic', async () => {
    const { body } = await get(served.base, '/api/v1/graph');
    const byId = new Map(body.edges.map((e: { id: string }) => [e.id, e]));
    expect(byId.get('frontend.default->orders.default')).toMatchObject({ declared: true, unexpected: false, requests: 10 });
    expect(byId.get('frontend.default->payments.default')).toMatchObject({ declared: false, unexpected: true, requests: 2 });
    expect(byId.get('unknown->frontend.default')).toMatchObject({ declared: false, unexpected: false });
    expect(byId.get('refunds.billing->payments.default')).toMatchObject({ declared: true, unexpected: false, requests: 0, rps: 0, protocol: 'http' });
    expect(body.nodes.find((n: { id: string }) => n.id === 'refunds.billing')).toMatchObject({ service: 'refunds', namespace: 'billing', requests: 0 });
  });

  it('gives the Node Graph API the same flags, unexpected edges red and idle declared ones dashed', async () => {
    const { body } = await get(served.base, '/api/graph/data');
    const byId = new Map(body.edges.map((e: { id: string }) => [e.id, e]));
    expect(byId.get('frontend.default->payments.default')).toMatchObject({ detail__unexpected: 'yes', detail__declared: 'no', color: 'red', strokeDasharray: '' });
    expect(byId.get('refunds.billing->payments.default')).toMatchObject({ detail__unexpected: 'no', detail__declared: 'yes', strokeDasharray: '6 4' });
    expect(byId.get('frontend.default->orders.default')).toMatchObject({ detail__declared: 'yes', color: 'gray', strokeDasharray: '' });
  });
});

describe('the graph history the dashboard charts draw', () => {
  const window = new TelemetryWindow();
  let served: { server: Server; base: string };

  beforeAll(async () => {
    const now = Date.now();
    window.ingest(report([edge('a.default', 'b.default', 30, 3, { 0.005: 30 })]), now - 100_000);
    window.ingest(report([edge('a.default', 'b.default', 60, 0, { 0.01: 60 })]), now - 5_000);
    served = await serve(window);
  });

  afterAll(async () => {
    await new Promise((r) => served.server.close(r));
  });

  it('gives one point per step, each the rate, error rate and p99 of that step', async () => {
    const { status, body } = await get(served.base, '/api/v1/graph/history?window=5m&step=30s');
    expect(status).toBe(200);
    expect(body).toMatchObject({ window: '300s', step: '30s' });
    expect(body.at).toHaveLength(10);
    const points = body.series['a.default->b.default'];
    expect(points).toHaveLength(10);
    // The step ending 90 s ago holds the calls of 100 s ago; the last step the recent ones; the rest none.
    expect(points[6]).toMatchObject({ rps: 1, errorRate: 0.1 });
    expect(points[9]).toMatchObject({ rps: 2, errorRate: 0 });
    expect(points[9].p99).toBeGreaterThan(5);
    expect(points.filter((_: unknown, i: number) => i !== 6 && i !== 9).every((p: { rps: number }) => p.rps === 0)).toBe(true);
    expect(body.series['b.default'][9]).toMatchObject({ rps: 2 });
  });

  it('refuses a history it cannot draw, saying why', async () => {
    expect((await get(served.base, '/api/v1/graph/history?window=15m&step=5s')).body.error).toMatch(/more than 60 points/);
    expect((await get(served.base, '/api/v1/graph/history?window=1m&step=5m')).body.error).toMatch(/step 300s is longer than the window 60s/);
    expect((await get(served.base, '/api/v1/graph/history?step=soon')).body.error).toMatch(/^step: "soon" is not a duration/);
  });
});
