// Config from the cluster: a control plane on `--kubeconfig` against a replaying API server (no cluster
// runs here) pushes Services, EndpointSlices, HTTPRoutes and MeshServices to a real sidecar, follows
// changes, reports a bad object by namespace/name while the last good config serves, and survives
// bookmarks, dropped watches, an API server away and 410 Gone without missing a change.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { FakeKubeApi } from './helpers/fake-kube-api.js';
import { call, freePort, startUpstream, type Upstream } from './helpers/net.js';
import { configDir, eventually, runCli, startProxy, type ProxyProcess, type Running } from './helpers/processes.js';

const PATHS = {
  services: '/api/v1/services',
  slices: '/apis/discovery.k8s.io/v1/endpointslices',
  routes: '/apis/gateway.networking.k8s.io/v1/httproutes',
  meshServices: '/apis/meshlight.dev/v1alpha1/meshservices',
  telemetries: '/apis/meshlight.dev/v1alpha1/telemetries',
};

const service = (name: string) => ({
  metadata: { name, namespace: 'shop', labels: { app: name } },
  spec: { type: 'ClusterIP', clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.10'], selector: { app: name }, ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 8080 }] },
  status: { loadBalancer: {} },
});

const slice = (service: string, port: number, ready = true) => ({
  metadata: { name: `${service}-x7k2p`, namespace: 'shop', labels: { 'kubernetes.io/service-name': service, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' }, ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name: service, uid: 'u', controller: true, blockOwnerDeletion: true }] },
  addressType: 'IPv4',
  endpoints: [{ addresses: ['127.0.0.1'], conditions: { ready, serving: ready, terminating: false }, targetRef: { kind: 'Pod', namespace: 'shop', name: `${service}-5d8f7c9b4-abcde`, uid: 'p' }, nodeName: 'node-1' }],
  ports: [{ name: 'http', port, protocol: 'TCP' }],
});

const route = (name: string, header: string, pathType = 'PathPrefix') => ({
  metadata: { name, namespace: 'shop', generation: 1 },
  spec: {
    parentRefs: [{ group: '', kind: 'Service', name: 'orders', port: 80 }],
    rules: [{ matches: [{ path: { type: pathType, value: '/' } }], filters: [{ type: 'ResponseHeaderModifier', responseHeaderModifier: { add: [{ name: 'x-route', value: header }] } }], backendRefs: [{ name: 'orders', port: 80 }] }],
  },
  status: { parents: [] },
});

describe('control plane config from the cluster', () => {
  const api = new FakeKubeApi();
  let cp: Running;
  let http: number;
  let sidecar: ProxyProcess;
  let up1: Upstream;
  let up2: Upstream;
  let payments: Upstream;

  const config = async () => (await (await fetch(`http://127.0.0.1:${http}/api/v1/config`)).json()) as { version: string; services: string[]; rejected: { text: string }[] };
  const orders = () => call(sidecar.outbound, 'orders.shop');

  beforeAll(async () => {
    [up1, up2, payments] = [await startUpstream('orders-1'), await startUpstream('orders-2'), await startUpstream('payments')];
    api.serve(PATHS.services, 'v1', 'Service', false);
    api.serve(PATHS.slices, 'discovery.k8s.io/v1', 'EndpointSlice', false);
    api.serve(PATHS.routes, 'gateway.networking.k8s.io/v1', 'HTTPRoute', true);
    api.serve(PATHS.meshServices, 'meshlight.dev/v1alpha1', 'MeshService', true);
    api.serve(PATHS.telemetries, 'meshlight.dev/v1alpha1', 'Telemetry', true);
    await api.start();
    api.apply(PATHS.services, 'ADDED', service('orders'));
    api.apply(PATHS.slices, 'ADDED', slice('orders', up1.port));
    api.apply(PATHS.routes, 'ADDED', route('orders', 'from-the-cluster'));
    // A MeshService without endpoints: they come from the EndpointSlices of its Service.
    api.apply(PATHS.meshServices, 'ADDED', { metadata: { name: 'payments', namespace: 'shop' }, spec: { port: 80, protocol: 'http' } });
    api.apply(PATHS.slices, 'ADDED', slice('payments', payments.port));
    api.apply(PATHS.services, 'ADDED', { metadata: { name: 'kube-dns', namespace: 'kube-system' }, spec: { ports: [{ name: 'dns-tcp', port: 53, protocol: 'TCP' }] } });

    const dir = await configDir({});
    await writeFile(join(dir, 'kubeconfig'), api.kubeconfig());
    const grpc = await freePort();
    http = await freePort();
    cp = runCli(['control-plane', '--kubeconfig', join(dir, 'kubeconfig'), '--bind-address', '127.0.0.1', '--grpc-port', String(grpc), '--http-port', String(http), '--log-level', 'debug']);
    await eventually(async () => (await fetch(`http://127.0.0.1:${http}/api/v1/config`).catch(() => undefined))?.status === 200, 15_000, `the control plane:\n${cp.output.stderr}`);
    sidecar = await startProxy({ files: {}, controlPlane: `127.0.0.1:${grpc}`, service: 'frontend', args: ['--namespace', 'shop'] });
  }, 40_000);

  afterAll(async () => {
    await sidecar?.stop();
    // SIGTERM: it exits 0 (the client's keep-alive sockets to the API server do not hold it).
    expect(await cp?.stop()).toBe(0);
    await api.close();
    for (const u of [up1, up2, payments]) await u?.close();
  });

  test("Services, EndpointSlices, HTTPRoutes and MeshServices become the sidecar's config", async () => {
    expect((await config()).services.sort()).toEqual(['orders.shop', 'payments.shop']);
    const r = await orders();
    expect([r.status, r.body, r.headers['x-route']]).toEqual([200, 'orders-1', 'from-the-cluster']);
    expect((await call(sidecar.outbound, 'payments.shop')).body).toBe('payments');
    expect(cp.output.stderr).toContain(`config from the Kubernetes API at http://127.0.0.1:${api.port}`);
  });

  test('a changed EndpointSlice moves the traffic; an endpoint not ready gets none', async () => {
    api.apply(PATHS.slices, 'MODIFIED', slice('orders', up2.port));
    await eventually(async () => (await orders()).body === 'orders-2', 5_000, 'traffic on the new endpoint');
    api.apply(PATHS.slices, 'MODIFIED', slice('payments', payments.port, false));
    await eventually(async () => (await call(sidecar.outbound, 'payments.shop')).status === 503, 5_000, 'payments without ready endpoints');
  });

  test('a bad object is reported by namespace/name and the last good config keeps serving', async () => {
    const before = (await config()).version;
    api.apply(PATHS.routes, 'ADDED', route('broken', 'x', 'Sometimes'));
    await eventually(async () => (await config()).rejected.length > 0, 5_000, 'the rejection');
    const c = await config();
    expect(c.rejected[0]!.text).toMatch(/^HTTPRoute shop\/broken:\d+:\d+: .*Sometimes/);
    expect(c.version).toBe(before);
    expect(cp.output.stderr).toMatch(/HTTPRoute shop\/broken:\d+:\d+: /);
    expect((await orders()).body).toBe('orders-2');
  });

  test('after a bookmark a dropped watch resumes from the bookmarked version', async () => {
    const rv = api.bookmark();
    await new Promise((r) => setTimeout(r, 200));
    const seen = api.watchRequests.length;
    api.dropWatches();
    await eventually(() => api.watchRequests.slice(seen).filter((w) => w.path === PATHS.services).length > 0, 10_000, 'a new watch of Services');
    expect(api.watchRequests.slice(seen).find((w) => w.path === PATHS.services)!.resourceVersion).toBe(String(rv));
  });

  test('an API server away, then 410 Gone: the control plane lists again and misses no change', async () => {
    const listsBefore = api.lists.get(PATHS.routes) ?? 0;
    api.setAway(true);
    await new Promise((r) => setTimeout(r, 300));
    // Changed while the control plane could not watch, then the history is compacted.
    api.apply(PATHS.routes, 'DELETED', route('broken', 'x', 'Sometimes'));
    api.apply(PATHS.slices, 'MODIFIED', slice('orders', up1.port));
    api.compact();
    api.setAway(false);
    await eventually(async () => (await orders()).body === 'orders-1', 15_000, 'the EndpointSlice changed while away');
    await eventually(async () => (await config()).rejected.length === 0, 15_000, 'the bad HTTPRoute deleted while away');
    expect(api.expired).toContain(PATHS.routes);
    expect(api.lists.get(PATHS.routes)).toBeGreaterThan(listsBefore);
    expect(cp.output.stderr).toMatch(/list\/watch of \w+ objects failed: .*; retrying in \d+ ms/);
    // The sidecar never lost its config: the data plane kept serving throughout.
    expect((await orders()).status).toBe(200);
  });
});
