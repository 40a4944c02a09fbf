// The control plane with real sidecars: config pushed over gRPC, ACK/NACK, on-demand services, live
// route and sampling changes, bad config, a control-plane crash under traffic, and the call graph.
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meshControl, type ConfigRequest, type ConfigResponse } from '../control-plane/proto/index.js';
import { sample } from './helpers/metrics-text.js';
import { call, connectionRefused, freePort, startUpstream, type Upstream } from './helpers/net.js';
import { cli, eventually, replaceFile, meshService, runCli, startControlPlane, startProxy, waitReady, type ControlPlaneProcess, type ProxyProcess } from './helpers/processes.js';

const ROUTE = (v1: number, v2: number): string => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: orders}
spec:
  parentRefs: [{kind: Service, name: orders}]
  rules:
    - name: split
      backendRefs: [{name: orders-v1, weight: ${v1}}, {name: orders-v2, weight: ${v2}}]
`;

const TELEMETRY = (percent: number): string => `apiVersion: meshlight.dev/v1alpha1
kind: Telemetry
metadata: {name: mesh-default}
spec:
  tracing: {samplingPercentage: ${percent}}
`;

interface SidecarView {
  id: string;
  service: string;
  subscribed: string[];
  version: string;
  synced: boolean;
  lastAck: { version: string } | null;
  lastNack: { version: string; rejected: string; error: string } | null;
}

async function getJson<T>(port: number, path: string): Promise<T> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  expect(res.status).toBe(200);
  return (await res.json()) as T;
}

async function configVersion(admin: number): Promise<string> {
  return (await getJson<{ version: string }>(admin, '/config_dump')).version;
}

async function servicesOf(admin: number): Promise<string[]> {
  const dump = await getJson<{ services: { name: string; namespace: string }[] }>(admin, '/config_dump');
  return dump.services.map((s) => `${s.name}.${s.namespace}`).sort();
}

describe('control plane and sidecars', () => {
  let v1: Upstream;
  let v2: Upstream;
  let paymentsApp: Upstream;
  let cp: ControlPlaneProcess;
  let frontend: ProxyProcess;
  let checkout: ProxyProcess;
  let payments: ProxyProcess;
  const sidecars = (): ProxyProcess[] => [frontend, checkout, payments];

  beforeAll(async () => {
    v1 = await startUpstream('v1', (req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(req.url === '/fail' ? 500 : 200).end('v1'));
    });
    v2 = await startUpstream('v2');
    paymentsApp = await startUpstream('payments');
    cp = await startControlPlane({
      files: {
        'services.yaml': [
          meshService('frontend', [1]), meshService('checkout', [1]), meshService('orders', [v1.port]),
          meshService('orders-v1', [v1.port]), meshService('orders-v2', [v2.port]), meshService('payments', [paymentsApp.port]),
        ].join('---\n'),
        'routes.yaml': ROUTE(100, 0),
        'telemetry.yaml': TELEMETRY(0),
      },
      args: ['--report-interval', '500ms'],
    });
    [frontend, checkout, payments] = await Promise.all([
      startProxy({ files: {}, controlPlane: cp.address, service: 'frontend' }),
      startProxy({ files: {}, controlPlane: cp.address, service: 'checkout' }),
      startProxy({ files: {}, controlPlane: cp.address, service: 'payments', appPort: paymentsApp.port }),
    ]);
  });

  afterAll(async () => {
    await Promise.all(sidecars().map((s) => s?.stop()));
    await cp?.stop();
    await Promise.all([v1, v2, paymentsApp].map((u) => u?.close()));
  });

  it('pushes every sidecar its config, each ACKs it, and each is ready only then', async () => {
    const list = await getJson<SidecarView[]>(cp.http, '/api/v1/sidecars');
    expect(list.map((s) => s.service)).toEqual(['checkout', 'frontend', 'payments']);
    for (const s of list) {
      expect(s.synced).toBe(true);
      expect(s.lastAck?.version).toBe(s.version);
      expect(s.lastNack).toBeNull();
    }
    for (const p of sidecars()) expect((list.map((s) => s.version))).toContain(await configVersion(p.admin));
    const metrics = await (await fetch(`http://127.0.0.1:${cp.http}/metrics`)).text();
    expect(sample(metrics, 'meshlight_cp_connected_sidecars')).toBe(3);
    expect(sample(metrics, 'meshlight_cp_acks_total')).toBeGreaterThanOrEqual(3);
    expect(sample(metrics, 'meshlight_cp_push_ack_seconds_count')).toBeGreaterThanOrEqual(3);
  });

  it('a sidecar gets only what it needs: its own service, then each service it calls, on its first call', async () => {
    expect(await servicesOf(checkout.admin)).toEqual(['checkout.default']);
    const first = await call(checkout.outbound, 'orders', '/');
    expect(first.status).toBe(200);
    expect(first.body).toBe('v1');
    // orders and the services its route sends to; not payments, frontend or anything else.
    expect(await servicesOf(checkout.admin)).toEqual(['checkout.default', 'orders-v1.default', 'orders-v2.default', 'orders.default']);
    // Concurrent first calls to another new service all wait for the same answer.
    const burst = await Promise.all(Array.from({ length: 10 }, () => call(checkout.outbound, 'payments', '/')));
    expect(burst.map((r) => r.status)).toEqual(new Array(10).fill(200));
    const unknown = await call(checkout.outbound, 'nowhere', '/');
    expect(unknown.status).toBe(404);
    expect(unknown.headers['x-meshlight-flags']).toBe('NR');
    const me = (await getJson<SidecarView[]>(cp.http, '/api/v1/sidecars')).find((s) => s.service === 'checkout')!;
    expect(me.subscribed).toEqual(['nowhere.default', 'orders.default', 'payments.default']);
  });

  it('a route change reaches every sidecar that calls the service within seconds, and only those', async () => {
    await replaceFile(join(cp.configDir, 'routes.yaml'), ROUTE(100, 0));
    await eventually(async () => (await call(frontend.outbound, 'orders', '/')).body === 'v1', 5_000, 'all on v1');
    const paymentsVersion = await configVersion(payments.admin);
    const before = Date.now();
    await replaceFile(join(cp.configDir, 'routes.yaml'), ROUTE(0, 100));
    await eventually(async () => (await call(frontend.outbound, 'orders', '/')).body === 'v2' && (await call(checkout.outbound, 'orders', '/')).body === 'v2', 5_000, 'the new split on both callers');
    expect(Date.now() - before).toBeLessThan(5_000);
    // payments calls nobody: its view did not change, so nothing was pushed to it.
    expect(await configVersion(payments.admin)).toBe(paymentsVersion);
    await eventually(async () => (await getJson<SidecarView[]>(cp.http, '/api/v1/sidecars')).every((s) => s.synced), 5_000, 'every sidecar synced');
  });

  it('an invalid config file is reported as FILE:LINE:COL while the last good config keeps serving', async () => {
    await replaceFile(join(cp.configDir, 'routes.yaml'), ROUTE(0, 100));
    await eventually(async () => (await call(frontend.outbound, 'orders', '/')).body === 'v2', 5_000, 'all on v2');
    const good = await configVersion(frontend.admin);
    await replaceFile(join(cp.configDir, 'routes.yaml'), `${ROUTE(50, 50)}      timeouts: {request: soon}\n`);
    await eventually(async () => (await getJson<{ rejected: unknown[] }>(cp.http, '/api/v1/config')).rejected.length > 0, 5_000, 'the rejection');
    const status = await getJson<{ rejected: { text: string }[] }>(cp.http, '/api/v1/config');
    expect(status.rejected[0]!.text).toMatch(/routes\.yaml:9:\d+: .*soon/);
    expect(cp.output.stderr).toMatch(/routes\.yaml:9:\d+: /);
    expect(sample(await (await fetch(`http://127.0.0.1:${cp.http}/metrics`)).text(), 'meshlight_cp_config_rejected')).toBe(1);
    expect(await configVersion(frontend.admin)).toBe(good);
    expect((await call(frontend.outbound, 'orders', '/')).body).toBe('v2');
    await replaceFile(join(cp.configDir, 'routes.yaml'), ROUTE(0, 100));
    await eventually(async () => (await getJson<{ rejected: unknown[] }>(cp.http, '/api/v1/config')).rejected.length === 0, 5_000, 'the fix');
  });

  it('the sampling percentage is pushed and takes effect live', async () => {
    await replaceFile(join(cp.configDir, 'routes.yaml'), ROUTE(0, 100));
    await replaceFile(join(cp.configDir, 'telemetry.yaml'), TELEMETRY(0));
    await eventually(async () => (await call(frontend.outbound, 'orders', '/')).body === 'v2', 5_000, 'all on v2');
    const sampledFlag = async (): Promise<string> => {
      await call(frontend.outbound, 'orders', '/');
      return String(v2.seen.at(-1)!.headers.traceparent).slice(-2);
    };
    expect(await sampledFlag()).toBe('00');
    await replaceFile(join(cp.configDir, 'telemetry.yaml'), TELEMETRY(100));
    await eventually(async () => (await sampledFlag()) === '01', 5_000, 'sampled requests');
  });

  it('the graph shows who calls whom with rps, error rate and percentiles, and Grafana can read it', async () => {
    await replaceFile(join(cp.configDir, 'routes.yaml'), ROUTE(100, 0));
    await eventually(async () => (await call(frontend.outbound, 'orders', '/')).body === 'v1', 5_000, 'all on v1');
    for (let i = 0; i < 18; i++) await call(frontend.outbound, 'orders', '/ok');
    for (let i = 0; i < 2; i++) await call(frontend.outbound, 'orders', '/fail');
    for (let i = 0; i < 5; i++) await call(frontend.outbound, 'payments', '/charge');
    // A sidecar without --service: its calls are `unknown`'s, counted by the callee's sidecar only
    // (ledger's endpoint is payments' sidecar, which reports the calls as payments').
    await replaceFile(join(cp.configDir, 'ledger.yaml'), meshService('ledger', [payments.inbound]));
    const anonymous = await startProxy({ files: {}, controlPlane: cp.address });
    try {
      await eventually(async () => (await call(anonymous.outbound, 'ledger', '/anonymous')).status === 200, 5_000, 'ledger in the mesh');
      for (let i = 0; i < 3; i++) expect((await call(anonymous.outbound, 'ledger', '/anonymous')).status).toBe(200);
      // Not a fixed sleep: once a report of this sidecar sent after its calls is in, a wrong count would show.
      const calledAt = new Date().toISOString();
      await eventually(async () => {
        const me = (await getJson<(SidecarView & { lastReportAt: string | null })[]>(cp.http, '/api/v1/sidecars')).find((s) => s.id.endsWith(`/${anonymous.proc.pid}`));
        return me?.lastReportAt != null && me.lastReportAt > calledAt;
      }, 5_000, "the anonymous sidecar's report after its calls");
    } finally {
      await anonymous.stop();
    }
    type G = { nodes: { id: string; rps: number }[]; edges: { id: string; source: string; target: string; requests: number; errors: number; errorRate: number; rps: number; p50: number; p99: number }[]; window: string; observed?: string };
    let g: G | undefined;
    await eventually(async () => {
      g = await getJson<G>(cp.http, '/api/v1/graph?window=5m');
      return (g.edges.find((e) => e.id === 'frontend.default->payments.default')?.requests ?? 0) >= 5 && g.edges.some((e) => e.id === 'unknown->payments.default');
    }, 5_000, 'the reports');
    const orders = g!.edges.find((e) => e.id === 'frontend.default->orders.default')!;
    expect(orders.errors).toBe(2);
    expect(orders.requests).toBeGreaterThanOrEqual(20);
    expect(orders.errorRate).toBeCloseTo(2 / orders.requests, 5);
    // The control plane started seconds ago: the rates divide by the time it has seen, not by 5 minutes.
    expect(g!.observed).toMatch(/^\d+(ms|s)$/);
    const observedSeconds = g!.observed!.endsWith('ms') ? parseInt(g!.observed!, 10) / 1000 : parseInt(g!.observed!, 10);
    expect(observedSeconds).toBeLessThan(300);
    expect(orders.rps).toBeCloseTo(orders.requests / observedSeconds, 5);
    expect(orders.p50).toBeGreaterThan(0);
    expect(orders.p99).toBeGreaterThanOrEqual(orders.p50);
    // Each call counted once: payments' own sidecar saw the calls too, but the caller's report carries them.
    expect(g!.edges.find((e) => e.id === 'frontend.default->payments.default')!.requests).toBe(5);
    expect(g!.edges.filter((e) => e.source === 'unknown').map((e) => [e.id, e.requests])).toEqual([['unknown->payments.default', 4]]);
    expect(g!.window).toBe('300s');
    expect(g!.nodes.map((n) => n.id)).toEqual(expect.arrayContaining(['frontend.default', 'orders.default', 'payments.default']));
    expect((await fetch(`http://127.0.0.1:${cp.http}/api/health`)).status).toBe(200);
    const fields = await getJson<{ nodes_fields: { field_name: string }[]; edges_fields: { field_name: string }[] }>(cp.http, '/api/graph/fields');
    expect(fields.nodes_fields.map((f) => f.field_name)).toEqual(expect.arrayContaining(['id', 'title', 'mainStat']));
    expect(fields.edges_fields.map((f) => f.field_name)).toEqual(expect.arrayContaining(['id', 'source', 'target', 'mainStat']));
    const data = await getJson<{ nodes: { id: string }[]; edges: { source: string; target: string }[] }>(cp.http, '/api/graph/data');
    expect(data.edges).toContainEqual(expect.objectContaining({ source: 'frontend.default', target: 'orders.default' }));
    expect((await fetch(`http://127.0.0.1:${cp.http}/api/v1/graph?window=forever`)).status).toBe(400);
  });

  it('a sidecar that rejects a config (NACK) is shown with its error and keeps its version', async () => {
    const client = new (meshControl().Client)(cp.address, grpc.credentials.createInsecure());
    const stream = client.StreamConfig();
    const responses: ConfigResponse[] = [];
    stream.on('data', (r: ConfigResponse) => {
      responses.push(r);
      const nack: ConfigRequest = {
        node: null, version_info: '', response_nonce: r.nonce, resource_names: ['orders.default'],
        error_detail: { message: 'routes.yaml:3:1: this sidecar cannot apply it' },
      };
      stream.write(nack);
    });
    stream.on('error', () => undefined);
    stream.write({ node: { id: 'old-sidecar', service: 'frontend', namespace: 'default', address: '' }, version_info: '', response_nonce: '', resource_names: ['orders.default'], error_detail: null });
    try {
      await eventually(async () => (await getJson<SidecarView[]>(cp.http, '/api/v1/sidecars')).some((s) => s.id === 'old-sidecar' && s.lastNack !== null), 5_000, 'the NACK');
      const me = (await getJson<SidecarView[]>(cp.http, '/api/v1/sidecars')).find((s) => s.id === 'old-sidecar')!;
      expect(me.synced).toBe(false);
      expect(me.lastNack!.error).toBe('routes.yaml:3:1: this sidecar cannot apply it');
      expect(me.lastNack!.version).toBe(''); // what it kept: nothing yet
      expect(me.lastNack!.rejected).toBe(responses[0]!.version_info);
      expect(responses[0]!.resources.map((r) => r.file.split('/').pop())).toEqual(expect.arrayContaining(['routes.yaml', 'services.yaml']));
      expect(sample(await (await fetch(`http://127.0.0.1:${cp.http}/metrics`)).text(), 'meshlight_cp_nacks_total')).toBeGreaterThanOrEqual(1);
    } finally {
      stream.cancel();
      client.close();
    }
  });

  it('a stream that does not say which sidecar it is gets a clear error and no config', async () => {
    const client = new (meshControl().Client)(cp.address, grpc.credentials.createInsecure());
    const stream = client.StreamConfig();
    const got: ConfigResponse[] = [];
    stream.on('data', (r: ConfigResponse) => got.push(r));
    try {
      const err = await new Promise<grpc.ServiceError>((resolve) => {
        stream.on('error', resolve);
        stream.write({ node: null, version_info: '', response_nonce: '', resource_names: ['orders.default'], error_detail: null });
      });
      expect(err.details).toMatch(/must name its node/);
      expect(got).toEqual([]);
    } finally {
      client.close();
    }
  });

  it('kill -9 of the control plane under traffic fails no request; restarted, it resyncs every sidecar', async () => {
    let failed = 0;
    let ok = 0;
    await replaceFile(join(cp.configDir, 'routes.yaml'), ROUTE(100, 0));
    await eventually(async () => (await call(frontend.outbound, 'orders', '/')).body === 'v1', 5_000, 'all on v1');
    let running = true;
    const load = (async () => {
      while (running) {
        const r = await call(frontend.outbound, 'orders', '/');
        if (r.status === 200) ok++;
        else failed++;
      }
    })();
    try {
      await new Promise((res) => setTimeout(res, 300));
      cp.proc.kill('SIGKILL');
      await cp.exited;
      await new Promise((res) => setTimeout(res, 1_000));
      expect((await fetch(`http://127.0.0.1:${frontend.admin}/healthz/ready`)).status).toBe(200);
      const dump = await getJson<{ control_plane: { address: string; connected: boolean } }>(frontend.admin, '/config_dump');
      expect(dump.control_plane).toEqual({ address: cp.address, connected: false });
      await replaceFile(join(cp.configDir, 'routes.yaml'), ROUTE(0, 100)); // changed while nobody watches
      cp = await startControlPlane({ configDir: cp.configDir, ports: { grpc: cp.grpc, http: cp.http }, args: ['--report-interval', '500ms'] });
      await eventually(async () => {
        const list = await getJson<SidecarView[]>(cp.http, '/api/v1/sidecars');
        return list.length === 3 && list.every((s) => s.synced);
      }, 15_000, 'all three back and synced');
      await eventually(async () => (await call(frontend.outbound, 'orders', '/')).body === 'v2', 5_000, 'the change made while down');
    } finally {
      // Whatever failed above, the load loop ends here and does not outlive the test.
      running = false;
      await load;
    }
    expect(ok).toBeGreaterThan(20);
    expect(failed).toBe(0);
  });
});

describe('control plane: bad input and readiness', () => {
  it('a sidecar whose control plane is not up yet is not ready (503), and becomes ready with its first config', async () => {
    const cp = await startControlPlane({ files: { 'mesh.yaml': meshService('orders', [1]) } });
    await cp.stop();
    const [outbound, admin] = [await freePort(), await freePort()];
    const sidecar = runCli(['proxy', '--control-plane', cp.address, '--service', 'orders', '--outbound-port', String(outbound), '--admin-port', String(admin)]);
    try {
      // The admin port opens before the first config: it answers, and says why it is not ready.
      let answer: { status: number; body: string } | undefined;
      await eventually(async () => {
        const res = await fetch(`http://127.0.0.1:${admin}/healthz/ready`).catch(() => undefined);
        answer = res === undefined ? undefined : { status: res.status, body: await res.text() };
        return answer !== undefined;
      }, 10_000, 'the admin port');
      expect(answer).toEqual({ status: 503, body: 'no config loaded\n' });
      expect(await connectionRefused(outbound)).toBe(true); // no listener without a config
      const again = await startControlPlane({ configDir: cp.configDir, ports: { grpc: cp.grpc, http: cp.http } });
      try {
        await waitReady(admin, sidecar);
        expect(await servicesOf(admin)).toEqual(['orders.default']);
        expect(sidecar.output.stderr).toContain('waiting for the first config');
      } finally {
        await again.stop();
      }
    } finally {
      await sidecar.stop();
    }
  });

  it("a sidecar of a service calls its own service by that service's HTTPRoutes, and follows their edits", async () => {
    const [v1, v2] = [await startUpstream('v1'), await startUpstream('v2')];
    const shopRoute = (a: number, b: number) => ROUTE(a, b).replace('metadata: {name: orders}', 'metadata: {name: orders, namespace: shop}');
    const cp = await startControlPlane({
      files: {
        'services.yaml': [meshService('orders', [v1.port, v2.port], { namespace: 'shop' }), meshService('orders-v1', [v1.port], { namespace: 'shop' }), meshService('orders-v2', [v2.port], { namespace: 'shop' })].join('---\n'),
        'routes.yaml': shopRoute(0, 100),
      },
    });
    const orders = await startProxy({ files: {}, controlPlane: cp.address, service: 'orders', args: ['--namespace', 'shop'] });
    try {
      // Round robin over orders' own endpoints would give v1 half the time; the route says v2 only.
      const bodies = async () => Promise.all(Array.from({ length: 10 }, async () => (await call(orders.outbound, 'orders', '/')).body));
      expect(await bodies()).toEqual(new Array(10).fill('v2'));
      expect((await getJson<{ http_routes: { name: string }[] }>(orders.admin, '/config_dump')).http_routes.map((r) => r.name)).toEqual(['orders']);
      // orders and orders-v2 share v2's address: one pool, one set of counters, and /clusters says so.
      type Clusters = { clusters: { name: string; endpoints: { address: string; requests_total: number; counters_shared_by?: string[] }[] }[] };
      const { clusters } = await getJson<Clusters>(orders.admin, '/clusters');
      const v2Entries = clusters.flatMap((c) => c.endpoints.filter((e) => e.address === `127.0.0.1:${v2.port}`).map((e) => [c.name, e] as const));
      expect(v2Entries.map(([name]) => name).sort()).toEqual(['orders-v2.shop', 'orders.shop']);
      for (const [, e] of v2Entries) expect(e.counters_shared_by?.sort()).toEqual(['orders-v2.shop', 'orders.shop']);
      // The config came as one pushed document per resource: each file is listed once.
      expect((await getJson<{ sources: string[] }>(orders.admin, '/config_dump')).sources.map((f) => f.split('/').pop()).sort()).toEqual(['routes.yaml', 'services.yaml']);
      await replaceFile(join(cp.configDir, 'routes.yaml'), shopRoute(100, 0));
      await eventually(async () => (await bodies()).every((b) => b === 'v1'), 5_000, 'the weight edit on the sidecar of orders itself');
      // A name the mesh has only in another namespace: the 404 names it, here as with a config file.
      const elsewhere = await call(orders.outbound, 'orders-v1.default', '/');
      expect([elsewhere.status, elsewhere.headers['x-meshlight-flags']]).toEqual([404, 'NR']);
      expect(elsewhere.body).toContain("no service 'orders-v1.default' in the mesh; the mesh has orders-v1.shop");
    } finally {
      await orders.stop();
      await cp.stop();
      await Promise.all([v1.close(), v2.close()]);
    }
  });

  it('an invalid config at start: the control plane exits 1 naming FILE:LINE:COL', async () => {
    const cp = startControlPlane({ files: { 'mesh.yaml': 'apiVersion: meshlight.dev/v1alpha1\nkind: MeshService\nmetadata: {name: Orders}\nspec: {}\n' } });
    await expect(cp).rejects.toThrow(/mesh\.yaml:3:\d+: .*Orders/);
  });

  it('bad flags exit 2 with one line', async () => {
    const noConfig = await cli(['control-plane']);
    expect(noConfig.code).toBe(2);
    expect(noConfig.stderr).toMatch(/--config DIR or --kubernetes is required/);
    const badAddress = await cli(['proxy', '--control-plane', 'nowhere']);
    expect(badAddress.code).toBe(2);
    expect(badAddress.stderr).toMatch(/--control-plane must be HOST:PORT/);
    const badUrl = await cli(['control-plane', '--config', '.', '--prometheus-url', 'localhost:9090']);
    expect(badUrl.code).toBe(2);
  });
});

describe('a real sidecar and a config it cannot apply', () => {
  it('NACKs it with the version it kept and the problem, and keeps serving that version', async () => {
    // A control plane of another version, say, whose config this sidecar cannot parse: a plain gRPC
    // server on the real proto, so the test decides exactly what is pushed and sees every request.
    const upstream = await startUpstream('kept');
    const requests: ConfigRequest[] = [];
    let stream: grpc.ServerDuplexStream<ConfigRequest, ConfigResponse> | undefined;
    const server = new grpc.Server();
    server.addService(meshControl().service, {
      StreamConfig: (c: grpc.ServerDuplexStream<ConfigRequest, ConfigResponse>) => {
        stream = c;
        c.on('data', (r: ConfigRequest) => requests.push(r));
        c.on('error', () => undefined);
      },
      Report: (_c: unknown, cb: grpc.sendUnaryData<object>) => cb(null, {}),
    });
    const port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err === null ? res(p) : rej(err))));
    const push = (version: string, nonce: string, yaml: string) => stream!.write({ version_info: version, nonce, resources: [{ file: 'mesh.yaml', line: 1, yaml }], report_interval_ms: 60_000, resource_names: [], mesh_services: [] });
    const answer = async (nonce: string): Promise<ConfigRequest> => {
      await eventually(() => requests.some((r) => r.response_nonce === nonce), 5_000, `the answer to push ${nonce}`);
      return requests.find((r) => r.response_nonce === nonce)!;
    };
    const starting = startProxy({ files: {}, controlPlane: `127.0.0.1:${port}`, service: 'orders' });
    let sidecar: ProxyProcess | undefined;
    try {
      await eventually(() => stream !== undefined && requests.length > 0, 10_000, 'the sidecar stream');
      const good = meshService('orders', [upstream.port]);
      push('good-1', '1', good);
      sidecar = await starting;
      expect(await answer('1')).toMatchObject({ version_info: 'good-1', error_detail: null });
      push('bad-2', '2', good.replace('name: orders', 'name: Orders'));
      const nack = await answer('2');
      expect(nack.version_info).toBe('good-1'); // the version it kept, not the one it refused
      expect(nack.error_detail?.message).toMatch(/^mesh\.yaml:4:\d+: metadata\.name: "Orders"/);
      const dump = await getJson<{ version: string; last_rejected: string[] }>(sidecar.admin, '/config_dump');
      expect(dump.version).toBe('good-1');
      expect(dump.last_rejected[0]).toMatch(/^mesh\.yaml:4:\d+: metadata\.name: "Orders"/);
      const r = await call(sidecar.outbound, 'orders', '/');
      expect([r.status, r.body]).toEqual([200, 'kept']);
    } finally {
      await (sidecar ?? (await starting.catch(() => undefined)))?.stop();
      server.forceShutdown();
      await upstream.close();
    }
  });
});
