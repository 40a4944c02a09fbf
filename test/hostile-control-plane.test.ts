// The control plane under hostile input, from raw sockets and a raw gRPC client on loopback: bad
// requests get 4xx and never take it down; only sidecars with a token get config, and only their
// own service's; names, messages and caches are bounded; reports are checked before they are believed;
// what clients send is quoted in the log. Each case is what issue 12 found on the code before.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sample } from './helpers/metrics-text.js';
import { edge, meshClient, node, openStream, rawCall, report, request, sendReport } from './helpers/mesh-control.js';
import { rawExchange } from './helpers/net.js';
import { configDir, eventually, meshService, startControlPlane, startProxy, type ControlPlaneProcess } from './helpers/processes.js';
import type { MeshControlClient } from '../control-plane/proto/index.js';

const TOKENS = { frontend: 'frontend-token-3f9c0a', orders: 'orders-token-77b1e2' };
const SECRET = 'Bearer s3cr3t-of-the-orders-route';

const ROUTE = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: orders}
spec:
  parentRefs: [{kind: Service, name: orders}]
  rules:
    - filters:
        - type: RequestHeaderModifier
          requestHeaderModifier: {set: [{name: authorization, value: "${SECRET}"}]}
      backendRefs: [{name: orders}]
`;

interface Graph {
  nodes: { id: string }[];
  edges: { id: string; source: string; target: string; requests: number; errors: number; denied: number; p99: number }[];
}

async function getJson<T>(port: number, path: string): Promise<T> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  expect(res.status).toBe(200);
  return (await res.json()) as T;
}

async function cpMetrics(cp: ControlPlaneProcess): Promise<string> {
  return (await fetch(`http://127.0.0.1:${cp.http}/metrics`)).text();
}

async function startSecured(): Promise<{ cp: ControlPlaneProcess; tokenDir: string }> {
  const tokenDir = await configDir({
    tokens: `# test tokens\nfrontend.default ${TOKENS.frontend}\norders.default ${TOKENS.orders}\n`,
    'frontend.token': `${TOKENS.frontend}\n`,
  });
  const cp = await startControlPlane({
    files: { 'services.yaml': [meshService('frontend', [1]), meshService('orders', [2]), meshService('payments', [3])].join('---\n'), 'routes.yaml': ROUTE },
    args: ['--token-file', join(tokenDir, 'tokens'), '--report-interval', '500ms'],
  });
  return { cp, tokenDir };
}

describe('control plane: hostile input', () => {
  let cp: ControlPlaneProcess;
  let tokenDir: string;
  let client: MeshControlClient;

  beforeAll(async () => {
    ({ cp, tokenDir } = await startSecured());
    client = meshClient(cp.address);
  });

  afterAll(async () => {
    client?.close();
    await cp?.stop();
  });

  it('answers malformed targets, methods and headers on the HTTP port with 4xx, and stays up', async () => {
    const bad = [
      'GET // HTTP/1.1\r\nHost: cp\r\n\r\n',
      'GET //x:99999 HTTP/1.1\r\nHost: cp\r\n\r\n',
      'GET //x:99999/api/v1/graph HTTP/1.1\r\nHost: cp\r\n\r\n',
      'GET * HTTP/1.1\r\nHost: cp\r\n\r\n',
      'OPTIONS * HTTP/1.1\r\nHost: cp\r\n\r\n',
      'GET http://[::1 HTTP/1.1\r\nHost: cp\r\n\r\n',
      'BREW /api/v1/graph HTTP/1.1\r\nHost: cp\r\n\r\n',
      'DELETE /api/v1/sidecars HTTP/1.1\r\nHost: cp\r\n\r\n',
      'GET /api/v1/graph?window=%ZZ HTTP/1.1\r\nHost: cp\r\n\r\n',
      'GET / HTTP/1.1\r\nHost: cp\r\nno colon here\r\n\r\n',
      'GET / HTTP/1.1\r\nHost: cp\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n',
      `GET / HTTP/1.1\r\nHost: cp\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
      'GET /\x00 HTTP/1.1\r\n\r\n',
      '\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03',
    ];
    for (const req of bad) {
      const answer = await rawExchange(cp.http, req, 300);
      expect(answer, JSON.stringify(req.slice(0, 60))).toMatch(/^HTTP\/1\.1 4\d\d /);
    }
    expect(cp.proc.exitCode).toBeNull();
    expect((await fetch(`http://127.0.0.1:${cp.http}/api/v1/config`)).status).toBe(200);
  });

  it('answers bad calls on the gRPC port with a status (never a crash): HTTP/1.1, unknown methods, garbage, oversize', async () => {
    const http1 = await rawExchange(cp.grpc, 'GET // HTTP/1.1\r\nHost: cp\r\n\r\n', 300);
    expect(http1).not.toMatch(/^HTTP\/1\.1 2/);
    expect((await rawCall(client, '/meshlight.v1.MeshControl/Nope', Buffer.from('x')))?.code).toBe(grpc.status.UNIMPLEMENTED);
    expect((await rawCall(client, '/meshlight.v1.MeshControl/Report', Buffer.from([0xff, 0xff, 0xff, 0xff]), TOKENS.frontend))?.code).toBe(grpc.status.INTERNAL);
    const oversize = await rawCall(client, '/meshlight.v1.MeshControl/Report', Buffer.alloc(3 * 1024 * 1024, 0x0a), TOKENS.frontend);
    expect(oversize?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(cp.proc.exitCode).toBeNull();
    expect((await fetch(`http://127.0.0.1:${cp.http}/api/v1/config`)).status).toBe(200);
  });

  it('gives no config and takes no report without a known token, and none for a service the token does not prove', async () => {
    for (const token of [undefined, 'guess', 'x'.repeat(20_000)]) {
      const r = await openStream(client, token, request(node('thief/1', 'orders'), ['orders.default']));
      expect(r.responses).toEqual([]);
      expect(r.error?.code).toBe(grpc.status.UNAUTHENTICATED);
      expect((await sendReport(client, token, report(node('thief/1', 'orders'), [edge('orders.default', 'payments.default', 1)])))?.code).toBe(grpc.status.UNAUTHENTICATED);
    }
    const claim = await openStream(client, TOKENS.frontend, request(node('thief/2', 'orders'), ['orders.default']));
    expect(claim.responses).toEqual([]);
    expect(claim.error?.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(claim.error?.details).toMatch(/frontend\.default's/);
    // Counted for the operator; never logged with what the token was.
    const m = await cpMetrics(cp);
    expect(sample(m, 'meshlight_cp_refused_total', { status: 'UNAUTHENTICATED' })).toBe(6);
    expect(sample(m, 'meshlight_cp_refused_total', { status: 'PERMISSION_DENIED' })).toBe(1);
    expect(cp.output.stderr).not.toContain(TOKENS.orders);
  });

  it('sends a sidecar with a token the view of the service it proved', async () => {
    const own = await openStream(client, TOKENS.frontend, request(node('frontend-pod/1', 'frontend')));
    expect(own.error).toBeUndefined();
    const yaml = own.responses[0]!.resources.map((r) => r.yaml).join('\n');
    expect(yaml).toMatch(/name: frontend/);
    expect(yaml).not.toContain(SECRET);
    expect(yaml).not.toMatch(/name: orders/);
    expect(own.responses[0]!.mesh_services).toEqual(['frontend.default', 'orders.default', 'payments.default']);
  });

  it('keys a sidecar\'s state by its stream: a client claiming its node id cannot NACK for it or clear it', async () => {
    const sidecar = await startProxy({ files: {}, controlPlane: cp.address, service: 'frontend', args: ['--token-file', join(tokenDir, 'frontend.token')] });
    try {
      type S = { id: string; peer: string; synced: boolean; authenticated: boolean; lastNack: unknown; lastReportAt: string | null };
      let real: S | undefined;
      await eventually(async () => {
        real = (await getJson<S[]>(cp.http, '/api/v1/sidecars')).find((s) => s.synced && s.lastReportAt !== null);
        return real !== undefined;
      }, 5_000, 'the sidecar synced and reporting');
      expect(real!.authenticated).toBe(true);
      // Same token (a stolen one would do), same node id: a stream of its own that NACKs, then leaves.
      const forged = await openStream(client, TOKENS.frontend, request(node(real!.id, 'frontend')), 1_000, (r, stream) => {
        stream.write(request(node(real!.id, 'frontend'), [], { response_nonce: r.nonce, error_detail: { message: 'forged NACK' } }));
      });
      expect(forged.responses.length).toBeGreaterThan(0);
      await new Promise((res) => setTimeout(res, 300));
      const after = (await getJson<S[]>(cp.http, '/api/v1/sidecars')).filter((s) => s.id === real!.id);
      expect(after).toHaveLength(1);
      expect(after[0]).toMatchObject({ peer: real!.peer, synced: true, lastNack: null });
      expect(after[0]!.lastReportAt).not.toBeNull();
    } finally {
      await sidecar.stop();
    }
  });

  it('refuses malformed nodes and names, and forgets subscriptions of clients that have gone (bounded heap)', async () => {
    for (const bad of [node('<script>alert(1)</script>', 'frontend'), node('a b', 'frontend'), node('x'.repeat(300), 'frontend'), node('ok/1', 'Frontend'), node('ok/1', 'frontend', { namespace: 'a\nb' })]) {
      const r = await openStream(client, TOKENS.frontend, request(bad));
      expect(r.error?.code, JSON.stringify(bad).slice(0, 80)).toBe(grpc.status.INVALID_ARGUMENT);
    }
    const huge = await openStream(client, TOKENS.frontend, request(node('f/1', 'frontend'), ['a'.repeat(1_000_000)]));
    expect(huge.error?.code).toBe(grpc.status.INVALID_ARGUMENT);
    const heap = async (): Promise<number> => sample(await cpMetrics(cp), 'nodejs_heap_size_used_bytes')!;
    const before = await heap();
    // 200 clients, each subscribed to 1,000 well-formed names the mesh does not have (130 KB each).
    await Promise.all(Array.from({ length: 200 }, (_, i) => openStream(client, TOKENS.frontend,
      request(node(`f/${i}`, 'frontend'), Array.from({ length: 1_000 }, (_, j) => `s${i}-${j}-${'x'.repeat(50)}.default`)))));
    await eventually(async () => (await getJson<unknown[]>(cp.http, '/api/v1/sidecars')).length === 0, 10_000, 'the gone clients forgotten');
    // Heap in use counts garbage not yet collected (26 MB of requests passed through): the bound is what
    // tells retention (main kept +288 to +440 MB here) from the garbage of a busy moment.
    expect(await heap()).toBeLessThan(before + 120 * 1024 * 1024);
  });

  it('checks reports: fixed bucket bounds, clamped counts, only the sender\'s own edges, to services of the mesh', async () => {
    const from = node('frontend-pod/9', 'frontend');
    // 100,000 bucket bounds: counts kept, latency not, and quickly.
    const bounds = Array.from({ length: 100_000 }, (_, i) => (i + 1) / 1e5);
    const started = Date.now();
    expect(await sendReport(client, TOKENS.frontend, report(from, [edge('frontend.default', 'orders.default', 3, { bucket_counts: new Array<number>(bounds.length + 1).fill(0) })], bounds))).toBeUndefined();
    expect(Date.now() - started).toBeLessThan(1_000);
    const lies = [
      edge('frontend.default', 'orders.default', '18446744073709551615' as unknown as number), // 2^64-1, sent exactly
      edge('frontend.default', 'orders.default', 10, { errors: 1e6, denied: 1e6 }), // taken, errors and denied clamped to 10
      edge('orders.default', 'payments.default', 50), // not frontend's call
      edge('unknown', 'orders.default', 50), // an unknown caller of orders: for orders' sidecar to say
      edge('frontend.default', 'nowhere.default', 50),
      edge('frontend.default', '<b>x</b>', 50),
      edge('frontend.default', 'payments.default', 5, { protocol: 'gopher' }),
    ];
    expect(await sendReport(client, TOKENS.frontend, report(from, lies))).toBeUndefined();
    expect((await sendReport(client, TOKENS.frontend, report(node('<img src=x>', 'frontend'), [edge('frontend.default', 'orders.default', 1)])))?.code).toBe(grpc.status.INVALID_ARGUMENT);
    // 12,000 invented edges (0.9 MB), then a real one: the real one is in the graph.
    const flood = Array.from({ length: 12_000 }, (_, i) => edge('frontend.default', `fake${i}.default`, 1));
    expect(await sendReport(client, TOKENS.frontend, report(from, flood))).toBeUndefined();
    expect(await sendReport(client, TOKENS.frontend, report(from, [edge('frontend.default', 'payments.default', 7)]))).toBeUndefined();
    const g = await getJson<Graph>(cp.http, '/api/v1/graph?window=5m');
    const byId = new Map(g.edges.map((e) => [e.id, e]));
    expect(byId.get('frontend.default->orders.default')).toMatchObject({ requests: 13, errors: 10, denied: 10 });
    expect(byId.get('frontend.default->orders.default')!.p99).toBeCloseTo(10, 0); // only the 10 with DURATION_BUCKETS
    expect(byId.get('frontend.default->payments.default')).toMatchObject({ requests: 7 });
    expect([...byId.keys()].sort()).toEqual(['frontend.default->orders.default', 'frontend.default->payments.default']);
    const m = await cpMetrics(cp);
    expect(sample(m, 'meshlight_cp_report_edges_rejected_total', { reason: 'bad_count' })).toBe(1);
    expect(sample(m, 'meshlight_cp_report_edges_rejected_total', { reason: 'not_reporter' })).toBe(2);
    expect(sample(m, 'meshlight_cp_report_edges_rejected_total', { reason: 'unknown_service' })).toBe(2 + 5_000);
    expect(sample(m, 'meshlight_cp_report_edges_rejected_total', { reason: 'too_many' })).toBe(7_000);
    expect(sample(m, 'meshlight_cp_report_edges_rejected_total', { reason: 'bad_protocol' })).toBe(1);
  });

  it('quotes what a client sent in its log lines: a NACK with a newline forges no line', async () => {
    const forged = '2026-01-01T00:00:00.000Z error meshlight[control-plane]: FORGED LINE';
    await openStream(client, TOKENS.frontend, request(node('frontend-pod/7', 'frontend')), 1_000, (r, stream) => {
      stream.write(request(node('frontend-pod/7', 'frontend'), [], { response_nonce: r.nonce, error_detail: { message: `bad config\n${forged}\r\n` } }));
    });
    await eventually(() => cp.output.stderr.includes('FORGED LINE'), 3_000, 'the NACK in the log');
    const lines = cp.output.stderr.split('\n');
    expect(lines.filter((l) => l.startsWith(forged))).toEqual([]);
    expect(lines.find((l) => l.includes('FORGED LINE'))).toContain('"bad config\\n2026-01-01');
  });
});

describe('control plane: generated reports and subscriptions (property)', () => {
  let cp: ControlPlaneProcess;
  let client: MeshControlClient;

  beforeAll(async () => {
    ({ cp } = await startSecured());
    client = meshClient(cp.address);
  });

  afterAll(async () => {
    client?.close();
    await cp?.stop();
  });

  it('stays up, bounded in memory, and its graph shows exactly the edges each sender may report', async () => {
    const services = ['frontend.default', 'orders.default', 'payments.default'];
    // Mostly names and counts that can be taken, so that what is taken is tested too; the rest anything.
    const name = fc.oneof(
      { arbitrary: fc.constantFrom(...services, 'unknown'), weight: 6 },
      { arbitrary: fc.constantFrom('nowhere.default', ''), weight: 1 },
      { arbitrary: fc.string({ maxLength: 40 }), weight: 1 },
      { arbitrary: fc.stringMatching(/^[a-z]{1,8}\.[a-z]{1,8}$/), weight: 1 },
    );
    const count = fc.oneof({ arbitrary: fc.nat(1_000), weight: 6 }, { arbitrary: fc.constantFrom(0, 2 ** 53, 2 ** 64 - 1, 1e9, 1e9 + 1), weight: 1 });
    const edgeArb = fc.record({
      source: name, destination: name, protocol: fc.constantFrom('http', 'http', 'grpc', '', 'x'),
      requests: count, errors: count, denied: count,
      bucket_counts: fc.oneof({ arbitrary: fc.constant(undefined), weight: 3 }, { arbitrary: fc.array(fc.nat(100), { maxLength: 20 }), weight: 1 }),
    });
    const sender = fc.constantFrom<keyof typeof TOKENS>('frontend', 'orders');
    const step = fc.oneof(
      fc.record({ kind: fc.constant('report' as const), sender, edges: fc.array(edgeArb, { maxLength: 30 }), id: fc.oneof(fc.constant('pod/1'), fc.string({ maxLength: 30 })) }),
      fc.record({ kind: fc.constant('subscribe' as const), sender, names: fc.array(name, { maxLength: 50 }), id: fc.oneof(fc.constant('pod/2'), fc.string({ maxLength: 30 })) }),
    );
    // The model: what /api/v1/graph must show once every step is in.
    const expected = new Map<string, { requests: number; errors: number }>();
    const heapBefore = sample(await cpMetrics(cp), 'nodejs_heap_size_used_bytes')!;
    await fc.assert(fc.asyncProperty(step, async (s) => {
      const self = `${s.sender}.default`;
      const n = node(s.id, s.sender);
      const validId = /^[A-Za-z0-9][A-Za-z0-9._:/@[\]+=-]{0,252}$/.test(s.id);
      if (s.kind === 'subscribe') {
        const r = await openStream(client, TOKENS[s.sender], request(n, s.names));
        const validNames = s.names.every((x) => /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(x));
        expect(r.error === undefined).toBe(validId && validNames);
        // orders' routes (and the secret in them) go to whoever subscribes to orders, and to orders' own sidecars, which may call orders.
        if (r.error === undefined) expect(r.responses[0]!.resources.some((doc) => doc.yaml.includes(SECRET))).toBe(s.names.includes('orders.default') || s.sender === 'orders');
        return;
      }
      const edges = s.edges.map((e) => edge(e.source, e.destination, e.requests, { protocol: e.protocol, errors: e.errors, denied: e.denied, ...(e.bucket_counts !== undefined ? { bucket_counts: e.bucket_counts } : {}) }));
      const err = await sendReport(client, TOKENS[s.sender], report(n, edges));
      expect(err === undefined).toBe(validId);
      if (err !== undefined) return;
      const seen = new Set<string>();
      for (const e of edges) {
        const mine = e.source === self || (e.source === 'unknown' && e.destination === self);
        const ok = (c: number): boolean => Number.isSafeInteger(c) && c >= 0 && c <= 1e9;
        if (!mine || !services.includes(e.destination) || !ok(e.requests) || e.requests === 0 || !ok(e.errors) || !ok(e.denied) || !['http', 'grpc'].includes(e.protocol)) continue;
        const key = `${e.source}->${e.destination}`;
        if (seen.has(key)) continue;
        seen.add(key);
        const t = expected.get(key) ?? { requests: 0, errors: 0 };
        t.requests += e.requests;
        t.errors += Math.min(e.errors, e.requests);
        expected.set(key, t);
      }
    }), { numRuns: 150, seed: 12 });
    expect(cp.proc.exitCode).toBeNull();
    expect(expected.size).toBeGreaterThan(0); // the generators do reach the edges that count
    const g = await getJson<Graph>(cp.http, '/api/v1/graph?window=15m');
    expect(new Map(g.edges.map((e) => [e.id, { requests: e.requests, errors: e.errors }]))).toEqual(expected);
    for (const e of g.edges) expect(e.errors).toBeLessThanOrEqual(e.requests);
    for (const n of g.nodes) expect([...services, 'unknown']).toContain(n.id);
    expect(sample(await cpMetrics(cp), 'nodejs_heap_size_used_bytes')!).toBeLessThan(heapBefore + 40 * 1024 * 1024);
  });
});

// A token file that changes is read again: a sidecar with a new token gets in without a restart.
describe('control plane: token file reload', () => {
  it('takes a token added to the file while running', async () => {
    const { cp, tokenDir } = await startSecured();
    const client = meshClient(cp.address);
    try {
      expect((await openStream(client, 'payments-new', request(node('p/1', 'payments')))).error?.code).toBe(grpc.status.UNAUTHENTICATED);
      await writeFile(join(tokenDir, 'tokens'), `frontend.default ${TOKENS.frontend}\npayments.default payments-new\n`);
      await eventually(async () => (await openStream(client, 'payments-new', request(node('p/1', 'payments')))).error === undefined, 3_000, 'the new token');
      expect((await openStream(client, TOKENS.orders, request(node('o/1', 'orders')))).error?.code).toBe(grpc.status.UNAUTHENTICATED);
    } finally {
      client.close();
      await cp.stop();
    }
  });
});
