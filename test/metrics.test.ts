import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, freePort, startUpstream, type Upstream } from './helpers/net.js';
import { meshService, startProxy, type ProxyProcess } from './helpers/processes.js';
import { sample } from './helpers/metrics-text.js';

async function scrape(admin: number, accept?: string): Promise<{ type: string; text: string }> {
  const res = await fetch(`http://127.0.0.1:${admin}/metrics`, { headers: accept === undefined ? {} : { accept } });
  expect(res.status).toBe(200);
  return { type: res.headers.get('content-type') ?? '', text: await res.text() };
}

describe('RED metrics on both sidecars of a call', () => {
  let app: Upstream;
  let caller: ProxyProcess;
  let callee: ProxyProcess;

  beforeAll(async () => {
    app = await startUpstream('orders', (req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(req.url === '/fail' ? 503 : 200).end(req.url === '/big' ? 'x'.repeat(5_000) : 'ok'));
    });
    // orders' own sidecar: inbound -> the app. frontend must be a known service for the caller label.
    callee = await startProxy({ files: { 'mesh.yaml': `${meshService('orders', [1])}---\n${meshService('frontend', [1])}` }, service: 'orders', appPort: app.port });
    caller = await startProxy({ files: { 'mesh.yaml': `${meshService('orders', [callee.inbound])}---\n${meshService('frontend', [1])}` }, service: 'frontend' });
    for (let i = 0; i < 3; i++) expect((await call(caller.outbound, 'orders', '/list')).status).toBe(200);
    expect((await call(caller.outbound, 'orders', '/big', 'POST')).status).toBe(200);
    expect((await call(caller.outbound, 'orders', '/fail')).status).toBe(503);
    expect((await call(caller.outbound, 'nowhere', '/')).status).toBe(404);
  });

  afterAll(async () => {
    await caller?.stop();
    await callee?.stop();
    await app?.close();
  });

  it('the caller reports source-side requests by destination, route, method, code and flag', async () => {
    const { type, text } = await scrape(caller.admin);
    expect(type).toMatch(/^text\/plain; version=0\.0\.4/);
    const base = { reporter: 'source', source_service: 'frontend.default', destination_service: 'orders.default', route: 'default' };
    expect(sample(text, 'mesh_requests_total', { ...base, method: 'GET', response_code: '200' })).toBe(3);
    expect(sample(text, 'mesh_requests_total', { ...base, method: 'POST', response_code: '200' })).toBe(1);
    expect(sample(text, 'mesh_requests_total', { ...base, method: 'GET', response_code: '503', response_flags: '-' })).toBe(1);
    expect(sample(text, 'mesh_requests_total', { reporter: 'source', destination_service: 'unknown', response_code: '404', response_flags: 'NR' })).toBe(1);
    expect(sample(text, 'mesh_request_duration_seconds_count', { ...base, method: 'GET', response_code: '200' })).toBe(3);
    expect(sample(text, 'mesh_request_duration_seconds_bucket', { ...base, method: 'GET', response_code: '200', le: '+Inf' })).toBe(3);
    expect(sample(text, 'mesh_response_bytes_bucket', { ...base, method: 'POST', le: '1000' })).toBe(0);
    expect(sample(text, 'mesh_response_bytes_bucket', { ...base, method: 'POST', le: '10000' })).toBe(1);
    expect(sample(text, 'mesh_tcp_connections_opened_total', { reporter: 'source', source_service: 'frontend.default' })).toBe(6);
  });

  it('the callee reports the same calls as destination, naming the caller, which the app never sees', async () => {
    const { text } = await scrape(callee.admin);
    const base = { reporter: 'destination', source_service: 'frontend.default', destination_service: 'orders.default' };
    expect(sample(text, 'mesh_requests_total', { ...base, method: 'GET', response_code: '200' })).toBe(3);
    expect(sample(text, 'mesh_requests_total', { ...base, method: 'GET', response_code: '503' })).toBe(1);
    expect(app.seen.length).toBe(5);
    for (const r of app.seen) expect(r.headers['x-meshlight-source']).toBeUndefined();
  });

  it('a caller header naming a service outside the config is counted as unknown, keeping labels bounded', async () => {
    const res = await fetch(`http://127.0.0.1:${callee.inbound}/x`, { headers: { 'x-meshlight-source': 'attacker-42' } });
    expect(res.status).toBe(200);
    const { text } = await scrape(callee.admin);
    expect(text).not.toContain('attacker-42');
    expect(sample(text, 'mesh_requests_total', { reporter: 'destination', source_service: 'unknown', response_code: '200' })).toBe(1);
  });

  it('serves process, event-loop, in-flight and upstream pool metrics, and OpenMetrics when asked', async () => {
    const { text } = await scrape(caller.admin);
    for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_p99_seconds', 'meshlight_requests_in_flight', 'meshlight_downstream_connections', 'meshlight_access_log_dropped_total']) {
      expect(text).toMatch(new RegExp(`^${name} `, 'm'));
    }
    expect(sample(text, 'meshlight_upstream_connections', { destination_service: 'orders.default', state: 'connected' })).toBeGreaterThanOrEqual(1);
    const om = await scrape(caller.admin, 'application/openmetrics-text;version=1.0.0,text/plain;q=0.5');
    expect(om.type).toMatch(/^application\/openmetrics-text; version=1\.0\.0/);
    expect(om.text).toContain('# TYPE mesh_requests counter');
    expect(om.text.endsWith('# EOF\n')).toBe(true);
    expect(om.text.match(/# EOF/g)).toHaveLength(1);
  });

  it('the stats port, when asked for, serves /metrics and readiness but nothing that reveals config', async () => {
    const stats = await freePort();
    const p = await startProxy({ files: { 'mesh.yaml': meshService('orders', [app.port]) }, args: ['--stats-port', String(stats)] });
    try {
      const metrics = await fetch(`http://127.0.0.1:${stats}/metrics`);
      expect(metrics.status).toBe(200);
      expect(await metrics.text()).toContain('# TYPE mesh_requests_total counter');
      expect((await fetch(`http://127.0.0.1:${stats}/healthz/ready`)).status).toBe(200);
      for (const path of ['/config_dump', '/clusters', '/traces']) expect((await fetch(`http://127.0.0.1:${stats}${path}`)).status).toBe(404);
    } finally {
      await p.stop();
    }
  });
});
