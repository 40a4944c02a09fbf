// Two control-plane replicas from one source of truth (the same config directory, as a ConfigMap mounted
// in both pods) behind one address that spreads connections as a Kubernetes Service does. The sidecars
// spread over both; one replica is killed (-9) under traffic: no request fails, its sidecars move to
// the other, and a config change afterwards reaches every sidecar through the survivor; the graph,
// computed from Prometheus, is whole on the survivor.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { call, freePort, startUpstream, type Upstream } from './helpers/net.js';
import { startPrometheus, type PrometheusProcess } from './helpers/prometheus.js';
import { configDir, eventually, meshService, replaceFile, startControlPlane, startProxy, type ControlPlaneProcess, type ProxyProcess } from './helpers/processes.js';
import { startTcpBalancer, type Balancer } from './helpers/tcp-balancer.js';

type Sidecars = { service: string; synced: boolean; version: string }[];

describe('two control-plane replicas', () => {
  let dir: string;
  let v1: Upstream;
  let v2: Upstream;
  const cps: ControlPlaneProcess[] = [];
  let balancer: Balancer;
  const sidecars: ProxyProcess[] = [];
  let prom: PrometheusProcess;

  const connected = async (cp: ControlPlaneProcess) => (await (await fetch(`http://127.0.0.1:${cp.http}/api/v1/sidecars`)).json()) as Sidecars;

  beforeAll(async () => {
    [v1, v2] = [await startUpstream('backend-v1'), await startUpstream('backend-v2')];
    dir = await configDir({ 'backend.yaml': meshService('backend', [v1.port]) });
    const promPort = await freePort();
    const args = ['--report-interval', '1s', '--prometheus-url', `http://127.0.0.1:${promPort}`];
    cps.push(...(await Promise.all([0, 1].map(() => startControlPlane({ configDir: dir, args })))));
    balancer = await startTcpBalancer(cps.map((c) => c.grpc));
    sidecars.push(...(await Promise.all(['web', 'shop', 'cart', 'mail'].map((service) => startProxy({ files: {}, controlPlane: `127.0.0.1:${balancer.port}`, service })))));
    prom = await startPrometheus(sidecars.map((s) => s.admin), { port: promPort });
  }, 60_000);

  afterAll(async () => {
    await prom?.stop();
    for (const s of sidecars) await s.stop();
    for (const c of cps) await c.stop('SIGKILL');
    await balancer?.close();
    for (const u of [v1, v2]) await u?.close();
  });

  test('the sidecars spread over both replicas', async () => {
    const counts = await Promise.all(cps.map(async (c) => (await connected(c)).length));
    expect(counts).toEqual([2, 2]);
  });

  test('one replica killed under traffic: no request fails, its sidecars move, and the next change reaches all', async () => {
    let sent = 0;
    const failures: string[] = [];
    let running = true;
    const traffic = (async () => {
      while (running) {
        await Promise.all(sidecars.map(async (s) => {
          sent++;
          const r = await call(s.outbound, 'backend').catch((err: Error) => ({ status: 0, body: err.message }));
          if (r.status !== 200) failures.push(`${r.status} ${r.body}`);
        }));
      }
    })();
    await new Promise((r) => setTimeout(r, 500));
    await cps[0]!.stop('SIGKILL');
    await eventually(async () => (await connected(cps[1]!)).length === 4, 15_000, 'all four sidecars on the surviving replica');
    await replaceFile(`${dir}/backend.yaml`, meshService('backend', [v2.port]));
    await eventually(async () => (await Promise.all(sidecars.map((s) => call(s.outbound, 'backend')))).every((r) => r.body === 'backend-v2'), 10_000, 'the change on every sidecar');
    running = false;
    await traffic;
    expect(failures).toEqual([]);
    expect(sent).toBeGreaterThan(40);
    const status = await connected(cps[1]!);
    expect(status.every((s) => s.synced)).toBe(true);
  });

  test('the graph from Prometheus is whole on the surviving replica: every caller of backend', async () => {
    const edges = async () => ((await (await fetch(`http://127.0.0.1:${cps[1]!.http}/api/v1/graph?window=30s`)).json()) as { edges: { id: string }[] }).edges.map((e) => e.id).sort();
    const want = ['cart.default->backend.default', 'mail.default->backend.default', 'shop.default->backend.default', 'web.default->backend.default'];
    // Prometheus counts what happens after its first scrape: keep calling while waiting.
    await prom.scrapedOnce();
    await eventually(async () => {
      await Promise.all(sidecars.map((s) => call(s.outbound, 'backend')));
      return JSON.stringify(await edges()) === JSON.stringify(want);
    }, 20_000, 'all four edges on the survivor');
  });
});
