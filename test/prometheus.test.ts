// A real Prometheus scrapes two sidecars' admin /metrics: what it stores must match what was sent, both
// targets must be healthy (no parse errors in our text or OpenMetrics), the duration histogram must feed
// histogram_quantile, and a sampled request's trace_id must arrive as an exemplar.
// Needs the `prometheus` binary (Debian package `prometheus`); without it this test fails, never skips.
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startUpstream, type Upstream } from './helpers/net.js';
import { eventually, meshService, startProxy, type ProxyProcess } from './helpers/processes.js';
import { PROMETHEUS_BIN as PROMETHEUS, PROMETHEUS_INSTALL_HINT as INSTALL_HINT, startPrometheus, type PrometheusProcess } from './helpers/prometheus.js';

interface PromVector {
  metric: Record<string, string>;
  value: [number, string];
}

interface PromTarget {
  labels: Record<string, string>;
  scrapeUrl: string;
  health: string;
  lastError: string;
  lastScrape: string;
}

interface PromExemplarSeries {
  seriesLabels: Record<string, string>;
  exemplars: { labels: Record<string, string>; value: string; timestamp: number }[];
}

/** A GET through the caller's outbound listener carrying a sampled W3C trace context. */
function tracedCall(port: number, host: string, path: string, traceId: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const traceparent = `00-${traceId}-${'ab'.repeat(8)}-01`;
    request({ host: '127.0.0.1', port, path, headers: { host, traceparent }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    }).on('error', reject).end();
  });
}

it('has a Prometheus binary to run (fails, never skips, without one)', () => {
  expect(existsSync(PROMETHEUS), `no ${PROMETHEUS}: install it with: ${INSTALL_HINT} (or set PROMETHEUS_BIN)`).toBe(true);
});

describe('a real Prometheus scraping two sidecars', () => {
  let app: Upstream;
  let caller: ProxyProcess;
  let callee: ProxyProcess;
  let prom: PrometheusProcess | undefined;
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  const started = Date.now();
  const timings: Record<string, number> = {};

  async function api<T>(path: string): Promise<T> {
    const res = await fetch(`${prom!.url}${path}`);
    const doc = (await res.json()) as { status: string; data: T; error?: string };
    if (doc.status !== 'success') throw new Error(`Prometheus ${path}: ${doc.error ?? res.status}`);
    return doc.data;
  }

  const query = async (q: string): Promise<PromVector[]> =>
    (await api<{ resultType: string; result: PromVector[] }>(`/api/v1/query?query=${encodeURIComponent(q)}`)).result;

  const targets = async (): Promise<PromTarget[]> => (await api<{ activeTargets: PromTarget[] }>('/api/v1/targets?state=active')).activeTargets;

  beforeAll(async () => {
    if (!existsSync(PROMETHEUS)) {
      throw new Error(`Prometheus is not installed (no ${PROMETHEUS}); this test needs a real one. Install it with: ${INSTALL_HINT} (or set PROMETHEUS_BIN)`);
    }
    app = await startUpstream('orders', (req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(req.url === '/fail' ? 503 : 200).end(req.url === '/big' ? 'x'.repeat(5_000) : 'ok'));
    });
    callee = await startProxy({ files: { 'mesh.yaml': `${meshService('orders', [1])}---\n${meshService('frontend', [1])}` }, service: 'orders', appPort: app.port });
    caller = await startProxy({ files: { 'mesh.yaml': `${meshService('orders', [callee.inbound])}---\n${meshService('frontend', [1])}` }, service: 'frontend' });
    timings['sidecars'] = Date.now() - started;

    // Before Prometheus exists: 3 GET 200, 1 POST 200, 1 GET 503 from the app, 1 404 NR for an unknown host.
    for (let i = 0; i < 3; i++) expect((await call(caller.outbound, 'orders', '/list')).status).toBe(200);
    expect((await call(caller.outbound, 'orders', '/big', 'POST')).status).toBe(200);
    expect((await call(caller.outbound, 'orders', '/fail')).status).toBe(503);
    expect((await call(caller.outbound, 'nowhere', '/')).status).toBe(404);

    prom = await startPrometheus([caller.admin, callee.admin], { labels: [{ sidecar: 'caller' }, { sidecar: 'callee' }], exemplars: true });
    timings['prometheus ready'] = Date.now() - started;

    // Both sidecars scraped once: from here on the counters move between scrapes, so rate() is non-zero.
    await eventually(async () => {
      const ts = await targets();
      return ts.length === 2 && ts.every((t) => t.health !== 'unknown');
    }, 10_000, 'the first scrape of both sidecars');
    timings['first scrape'] = Date.now() - started;
    for (let i = 0; i < 5; i++) expect((await call(caller.outbound, 'orders', '/list')).status).toBe(200);
    // Sent last, so its exemplar is the newest in its bucket on both sides.
    expect(await tracedCall(caller.outbound, 'orders', '/traced', traceId)).toBe(200);
  }, 35_000);

  afterAll(async () => {
    await prom?.stop();
    // Only warnings and errors (--log.level=warn): e.g. a parse problem in what a sidecar served.
    const said = (prom?.log() ?? '').split('\n').filter((l) => l.trim() !== '' && !l.includes('Received SIGTERM')).join('\n');
    if (said !== '') console.log(`prometheus logged:\n${said}`);
    await caller?.stop();
    await callee?.stop();
    await app?.close();
    console.log(`prometheus.test timings (ms since start): ${JSON.stringify({ ...timings, total: Date.now() - started })}`);
  });

  it('stores the request counts each side reported, by reporter, caller, callee and code', async () => {
    const q = 'sum by (reporter, source_service, destination_service, response_code) (mesh_requests_total)';
    const expected = {
      'source frontend.default orders.default 200': 10, // 3 GET + 1 POST + 5 GET + 1 traced
      'source frontend.default orders.default 503': 1,
      'source frontend.default unknown 404': 1,
      'destination frontend.default orders.default 200': 10,
      'destination frontend.default orders.default 503': 1,
    };
    let got: Record<string, number> = {};
    const read = async (): Promise<boolean> => {
      got = {};
      for (const r of await query(q)) {
        const m = r.metric;
        got[`${m['reporter']} ${m['source_service']} ${m['destination_service']} ${m['response_code']}`] = Number(r.value[1]);
      }
      return JSON.stringify(Object.entries(got).sort()) === JSON.stringify(Object.entries(expected).sort());
    };
    await eventually(read, 10_000, 'the query to show every request').catch(() => undefined);
    timings['counts match'] = Date.now() - started;
    expect(got).toEqual(expected);
  });

  it('shows both sidecars as healthy targets, with no scrape error', async () => {
    const ts = await targets();
    const summary = ts.map((t) => ({ sidecar: t.labels['sidecar'], url: t.scrapeUrl, health: t.health, lastError: t.lastError }));
    expect(summary.sort((a, b) => String(a.sidecar).localeCompare(String(b.sidecar)))).toEqual([
      { sidecar: 'callee', url: `http://127.0.0.1:${callee.admin}/metrics`, health: 'up', lastError: '' },
      { sidecar: 'caller', url: `http://127.0.0.1:${caller.admin}/metrics`, health: 'up', lastError: '' },
    ]);
    // Prometheus's own record of each scrape agrees.
    const up = await query('up{job="meshlight"}');
    expect(up.map((r) => r.value[1])).toEqual(['1', '1']);
  });

  it('feeds histogram_quantile from the duration histogram', async () => {
    const q = 'histogram_quantile(0.99, sum by (le) (rate(mesh_request_duration_seconds_bucket[1m])))';
    let value = NaN;
    await eventually(
      async () => {
        const r = await query(q);
        value = r.length === 1 ? Number(r[0]!.value[1]) : NaN;
        return Number.isFinite(value);
      },
      10_000,
      `${q} to be a number`,
    ).catch(() => undefined);
    timings['quantile'] = Date.now() - started;
    expect(Number.isFinite(value), `${q} gave ${value}`).toBe(true);
    expect(value).toBeGreaterThan(0);
    expect(value).toBeLessThanOrEqual(30);
  });

  it('keeps the sampled request trace_id as an exemplar of the duration histogram, from both sides', async () => {
    const now = Date.now() / 1000;
    const path = `/api/v1/query_exemplars?query=${encodeURIComponent('mesh_request_duration_seconds_bucket')}&start=${now - 300}&end=${now + 60}`;
    let reporters: string[] = [];
    await eventually(
      async () => {
        const series = await api<PromExemplarSeries[]>(path);
        reporters = series
          .filter((s) => s.exemplars.some((e) => e.labels['trace_id'] === traceId))
          .map((s) => s.seriesLabels['reporter'] ?? '')
          .sort();
        return reporters.length >= 2;
      },
      10_000,
      'the exemplar',
    ).catch(() => undefined);
    expect(reporters).toEqual(['destination', 'source']);
  });
});
