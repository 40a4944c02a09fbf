// The call graph computed from a real Prometheus (`--prometheus-url`) scraping real sidecars: frontend ->
// orders (a quarter of them 503), an external client -> orders (reported by the orders sidecar, source
// `unknown`), orders -> payments. Every call must count once, though two sidecars record most of them.
// Needs the `prometheus` binary (Debian package `prometheus`); without it this test fails, never skips.
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PrometheusGraph } from '../control-plane/src/graph/prometheus.js';
import type { Graph } from '../control-plane/src/graph/types.js';
import { call, freePort, startUpstream, type Upstream } from './helpers/net.js';
import { eventually, meshService, startControlPlane, startProxy, type ProxyProcess } from './helpers/processes.js';
import { PROMETHEUS_BIN, PROMETHEUS_INSTALL_HINT, startPrometheus, type PrometheusProcess } from './helpers/prometheus.js';

const FRONTEND_CALLS = 40;
const FRONTEND_FAILS = 10;
const EXTERNAL_CALLS = 20;
const PAYMENT_CALLS = 20;
const WINDOW_MS = 60_000;

it('has a Prometheus binary to run (fails, never skips, without one)', () => {
  expect(existsSync(PROMETHEUS_BIN), `no ${PROMETHEUS_BIN}: install it with: ${PROMETHEUS_INSTALL_HINT} (or set PROMETHEUS_BIN)`).toBe(true);
});

it('rejects with a message naming the Prometheus URL when nothing listens there', async () => {
  const port = await freePort();
  await expect(new PrometheusGraph(`http://127.0.0.1:${port}`).graph(WINDOW_MS)).rejects.toThrow(
    new RegExp(`^Prometheus at http://127\\.0\\.0\\.1:${port} is unreachable: .*ECONNREFUSED`),
  );
});

describe('the call graph from a real Prometheus scraping three sidecars', () => {
  const apps: Upstream[] = [];
  const proxies: ProxyProcess[] = [];
  let prom: PrometheusProcess | undefined;
  let graph: Graph;
  let beforePrometheus = 0;

  beforeAll(async () => {
    const app = async (name: string): Promise<Upstream> => {
      const u = await startUpstream(name, (req, res) => {
        req.resume();
        // A few ms so the latency percentiles land in a real bucket.
        req.on('end', () => setTimeout(() => res.writeHead(req.url === '/fail' ? 503 : 200).end(name), 2));
      });
      apps.push(u);
      return u;
    };
    const mesh = (orders: number, payments: number): Record<string, string> => ({
      'mesh.yaml': [meshService('frontend', [1]), meshService('orders', [orders]), meshService('payments', [payments])].join('---\n'),
    });
    const payments = await startProxy({ files: mesh(1, 1), service: 'payments', appPort: (await app('payments')).port });
    proxies.push(payments);
    const orders = await startProxy({ files: mesh(1, payments.inbound), service: 'orders', appPort: (await app('orders')).port });
    proxies.push(orders);
    const frontend = await startProxy({ files: mesh(orders.inbound, 1), service: 'frontend' });
    proxies.push(frontend);

    const traffic = async (n: number, fails: number, external: number, pays: number): Promise<void> => {
      const calls: Promise<unknown>[] = [];
      for (let i = 0; i < n; i++) calls.push(call(frontend.outbound, 'orders', i < fails ? '/fail' : '/ok'));
      // No sidecar in front of this caller: it reaches the orders sidecar's inbound directly.
      for (let i = 0; i < external; i++) calls.push(call(orders.inbound, 'orders', '/ok'));
      // What the orders app would send through its own sidecar.
      for (let i = 0; i < pays; i++) calls.push(call(orders.outbound, 'payments', '/charge'));
      await Promise.all(calls);
    };
    // Every series exists before the first scrape, so what follows is all counted by increase().
    await traffic(2, 1, 1, 1);
    beforePrometheus = Date.now();
    prom = await startPrometheus(proxies.map((p) => p.admin));
    await prom.scrapedOnce();
    await traffic(FRONTEND_CALLS, FRONTEND_FAILS, EXTERNAL_CALLS, PAYMENT_CALLS);

    const source = new PrometheusGraph(prom.url);
    // Each call is recorded by both the caller's and the callee's sidecar.
    const recorded = 2 * (2 + FRONTEND_CALLS + PAYMENT_CALLS + 1) + 1 + EXTERNAL_CALLS;
    await eventually(async () => Number((await source.query('sum(mesh_requests_total)'))[0]?.value[1]) === recorded, 15_000, `Prometheus to hold all ${recorded} recorded calls`);
    // increase() extrapolates a series' change over the span of its samples to the window's edges: over
    // a 2 s span that nearly doubles it, over 10 s it adds about 15%. Let the samples span that long.
    await new Promise((res) => setTimeout(res, 8_000));
    graph = await source.graph(WINDOW_MS);
  }, 45_000);

  afterAll(async () => {
    await prom?.stop();
    const said = prom?.log().trim() ?? '';
    if (said !== '') console.log(`prometheus logged:\n${said}`);
    for (const p of proxies) await p.stop();
    for (const a of apps) await a.close();
  });

  const edge = (id: string) => graph.edges.find((e) => e.id === id);
  const node = (id: string) => graph.nodes.find((n) => n.id === id);

  it('answers for a past moment too (the dashboard\'s history): before the first scrape there were no calls', async () => {
    const past = await new PrometheusGraph(prom!.url).graph(WINDOW_MS, beforePrometheus);
    expect(past.edges).toEqual([]);
    expect(Date.parse(past.generatedAt)).toBe(beforePrometheus);
  });

  it('has one edge per caller->callee pair and a node per service', () => {
    expect(graph.window).toBe('60s');
    expect(graph.edges.map((e) => e.id)).toEqual(['frontend.default->orders.default', 'orders.default->payments.default', 'unknown->orders.default']);
    expect(graph.nodes.map((n) => n.id)).toEqual(['frontend.default', 'orders.default', 'payments.default', 'unknown']);
    expect(node('orders.default')).toMatchObject({ service: 'orders', namespace: 'default' });
  });

  it('counts each call once, at about the rate it was sent', () => {
    // increase()'s extrapolation adds up to about 20% here, so allow +35%; a call counted by both
    // sidecars would double the rate.
    for (const [id, sent] of [['frontend.default->orders.default', FRONTEND_CALLS], ['unknown->orders.default', EXTERNAL_CALLS], ['orders.default->payments.default', PAYMENT_CALLS]] as const) {
      const e = edge(id)!;
      expect(e.requests, id).toBeGreaterThanOrEqual(sent * 0.9);
      expect(e.requests, id).toBeLessThanOrEqual(sent * 1.35);
      expect(e.rps, id).toBeCloseTo(e.requests / 60, 9);
      expect(e.protocol, id).toBe('http');
      expect(e.denied, id).toBe(0);
    }
    const orders = node('orders.default')!;
    expect(orders.requests).toBeCloseTo(edge('frontend.default->orders.default')!.requests + edge('unknown->orders.default')!.requests, 6);
    expect(node('frontend.default')).toMatchObject({ rps: 0, requests: 0, p99: 0 });
    expect(node('unknown')).toMatchObject({ rps: 0, requests: 0 });
  });

  it('gives the share of 5xx as the error rate', () => {
    expect(edge('frontend.default->orders.default')!.errorRate).toBeCloseTo(FRONTEND_FAILS / FRONTEND_CALLS, 1);
    expect(edge('unknown->orders.default')!.errorRate).toBe(0);
    expect(node('orders.default')!.errorRate).toBeCloseTo(FRONTEND_FAILS / (FRONTEND_CALLS + EXTERNAL_CALLS), 1);
    expect(node('payments.default')!.errorRate).toBe(0);
  });

  it('has positive p50 <= p95 <= p99 latencies in ms for every edge and called node', () => {
    const called = [...graph.edges, ...graph.nodes.filter((n) => n.requests > 0)];
    expect(called).toHaveLength(5);
    for (const s of called) {
      expect(s.p50, s.id).toBeGreaterThan(0);
      expect(s.p95, s.id).toBeGreaterThanOrEqual(s.p50);
      expect(s.p99, s.id).toBeGreaterThanOrEqual(s.p95);
      expect(s.p99, s.id).toBeLessThan(30_000);
    }
  });

  it('names the URL and the HTTP status when the address answers but is not the Prometheus API', async () => {
    const wrong = `${prom!.url}/not-the-api`;
    await expect(new PrometheusGraph(wrong).graph(WINDOW_MS)).rejects.toThrow(new RegExp(`^Prometheus at ${wrong.replace(/[.]/g, '\\.')} failed the query .*: HTTP 404`));
  });

  it('is what `meshlight control-plane --prometheus-url` serves, and a dead Prometheus there is a 502 naming it', async () => {
    const cp = await startControlPlane({ files: { 'mesh.yaml': meshService('frontend', [1]) }, args: ['--prometheus-url', prom!.url] });
    const dead = await startControlPlane({ files: { 'mesh.yaml': meshService('frontend', [1]) }, args: ['--prometheus-url', `http://127.0.0.1:${await freePort()}`] });
    try {
      const res = await fetch(`http://127.0.0.1:${cp.http}/api/v1/graph?window=60s`);
      expect(res.status).toBe(200);
      const served = (await res.json()) as Graph;
      expect(served.edges.map((e) => e.id)).toEqual(graph.edges.map((e) => e.id));
      expect(served.edges.find((e) => e.id === 'frontend.default->orders.default')!.errorRate).toBeCloseTo(FRONTEND_FAILS / FRONTEND_CALLS, 1);
      const failed = await fetch(`http://127.0.0.1:${dead.http}/api/v1/graph`);
      expect(failed.status).toBe(502);
      expect(((await failed.json()) as { error: string }).error).toMatch(/Prometheus at http:\/\/127\.0\.0\.1:\d+ is unreachable/);
    } finally {
      await cp.stop();
      await dead.stop();
    }
  });

  it('passes on the PromQL error Prometheus answers with', async () => {
    await expect(new PrometheusGraph(prom!.url).query('sum(')).rejects.toThrow(/failed the query sum\(: bad_data: .*parse error/);
  });
});
