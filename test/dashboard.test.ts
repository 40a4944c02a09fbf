// The dashboard and the live tap over a real mesh on free loopback ports: a control plane, a frontend
// sidecar and an orders sidecar in front of a real app, driven by Debian's Chromium (playwright-core).
// Checks what the page draws against /api/v1/graph, a service's panel, an unexpected call flagged, the
// live tap in the page and in `meshlight tap`, keyboard use, phone width, and keeps screenshots.
// Needs /usr/bin/chromium (Debian package `chromium`, installed by the pretest): fails, never skips, without it.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meshControl, type TapEvent } from '../control-plane/proto/index.js';
import { sample } from './helpers/metrics-text.js';
import { call, freePort, startUpstream, type Upstream } from './helpers/net.js';
import { configDir, eventually, runCli, startControlPlane, startProxy, waitReady, type ControlPlaneProcess, type ProxyProcess, type Running } from './helpers/processes.js';

const CHROMIUM = process.env['CHROMIUM_BIN'] ?? '/usr/bin/chromium';
const ARTIFACTS = resolve(import.meta.dirname, '../test-artifacts');
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const service = (name: string, port: number, callers: string, namespace = 'default'): string => `apiVersion: meshlight.dev/v1alpha1
kind: MeshService
metadata: {name: ${name}, namespace: ${namespace}}
spec:
  endpoints: [{address: "127.0.0.1:${port}"}]
${callers === '' ? '' : `  callers: [${callers}]\n`}`;

const ROUTE = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: orders}
spec: {parentRefs: [{kind: Service, name: orders}], rules: [{name: all, backendRefs: [{name: orders, weight: 100}]}]}
`;

interface ApiGraph {
  nodes: { id: string }[];
  edges: { id: string; requests: number; unexpected: boolean; declared: boolean }[];
}

async function apiGraph(port: number): Promise<ApiGraph> {
  return (await (await fetch(`http://127.0.0.1:${port}/api/v1/graph`)).json()) as ApiGraph;
}

async function launch(dir: string): Promise<BrowserContext> {
  return chromium.launchPersistentContext(dir, { executablePath: CHROMIUM, headless: true, args: FLAGS, viewport: { width: 1280, height: 800 } });
}

it('has a Chromium to drive (fails, never skips, without one)', () => {
  expect(existsSync(CHROMIUM), `no ${CHROMIUM}: install it with: apt-get install -y --no-install-recommends chromium (or set CHROMIUM_BIN)`).toBe(true);
});

describe('the dashboard over a real mesh', () => {
  let app: Upstream;
  let cp: ControlPlaneProcess;
  let frontend: ProxyProcess;
  let orders: Running;
  let browser: BrowserContext;
  let page: Page;
  let profile: string;
  const base = (): string => `http://127.0.0.1:${cp.http}`;
  const fromFrontend = (host: string, path: string): ReturnType<typeof call> => call(frontend.outbound, host, path);

  beforeAll(async () => {
    app = await startUpstream('orders-app');
    const [inbound, outbound, admin] = [await freePort(), await freePort(), await freePort()];
    cp = await startControlPlane({
      files: {
        // orders expects frontend; payments and inventory expect orders only; inventory is never called.
        'services.yaml': [service('frontend', 1, 'unknown'), service('orders', inbound, 'frontend'), service('payments', app.port, 'orders'), service('inventory', app.port, 'orders'),
          service('billing', app.port, '', 'shop')].join('---\n'),
        'routes.yaml': ROUTE,
      },
      args: ['--report-interval', '500ms'],
    });
    frontend = await startProxy({ files: {}, controlPlane: cp.address, service: 'frontend' });
    orders = runCli(['proxy', '--control-plane', cp.address, '--service', 'orders', '--app-port', String(app.port), '--bind-address', '127.0.0.1',
      '--inbound-port', String(inbound), '--outbound-port', String(outbound), '--admin-port', String(admin), '--access-log', '/dev/null']);
    await waitReady(admin, orders);
    await mkdir(ARTIFACTS, { recursive: true });
    profile = await mkdtemp(join(tmpdir(), 'meshlight-chromium-'));
    browser = await launch(profile);
    page = browser.pages()[0] ?? (await browser.newPage());
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    if (profile !== undefined) await rm(profile, { recursive: true, force: true });
    await Promise.all([frontend?.stop(), orders?.stop()]);
    await cp?.stop();
    await app?.close();
  });

  it('draws every service and call /api/v1/graph has, declared calls without traffic dashed', async () => {
    for (let i = 0; i < 20; i++) expect((await fromFrontend('orders', '/orders')).status).toBe(200);
    await eventually(async () => (await apiGraph(cp.http)).edges.some((e) => e.id === 'frontend.default->orders.default' && e.requests >= 20), 10_000, 'the frontend->orders calls in the graph');
    await page.goto(base());
    const graph = page.locator('#graph');
    await eventually(async () => ((await graph.getAttribute('data-edges')) ?? '').includes('frontend.default->orders.default'), 15_000, 'the dashboard to draw frontend->orders');
    const api = await apiGraph(cp.http);
    expect((await graph.getAttribute('data-nodes'))!.split(' ')).toEqual(api.nodes.map((n) => n.id).sort());
    expect((await graph.getAttribute('data-edges'))!.split(' ')).toEqual(api.edges.map((e) => e.id).sort());
    // The same in the table beside it, with the flags.
    const rows = await page.locator('[data-edge-id]').evaluateAll((els) => els.map((e) => [e.getAttribute('data-edge-id'), e.textContent]));
    expect(rows.map(([id]) => id).sort()).toEqual(api.edges.map((e) => e.id).sort());
    expect(rows.find(([id]) => id === 'orders.default->inventory.default')?.[1]).toContain('declared, no traffic');
    expect(rows.find(([id]) => id === 'frontend.default->orders.default')?.[1]).toContain('declared');
    expect(await page.locator('#empty').isHidden()).toBe(true);
  });

  it('opens a service panel on click: its RED, routes with weights, and sidecars with config version and ACK', async () => {
    // A click on the node where cytoscape drew it.
    const at = await page.evaluate(() => (globalThis as unknown as { meshlight: { cy: { getElementById(id: string): { renderedPosition(): { x: number; y: number } } } } })
      .meshlight.cy.getElementById('orders.default').renderedPosition());
    const box = (await page.locator('#graph').boundingBox())!;
    await page.mouse.click(box.x + at.x, box.y + at.y);
    const panel = page.locator('#panel');
    await expect.poll(() => panel.locator('h2[data-panel="service"]').textContent()).toBe('orders');
    const text = (await panel.textContent())!;
    expect(text).toMatch(/req\/s/);
    expect(text).toContain('default/orders');
    expect(text).toMatch(/orders\s*100/);
    const sidecars = (await (await fetch(`${base()}/api/v1/sidecars`)).json()) as { service: string; version: string }[];
    expect(text).toContain(sidecars.find((s) => s.service === 'orders')!.version);
    expect(text).toContain('ACK');
    // The charts come from the control plane's history: full at once, the last step holding these calls.
    expect(await panel.locator('.chart svg').count()).toBe(3);
    await expect.poll(() => panel.textContent()).toContain('the last 600s, one point per 30s');
    expect((await panel.locator('.chart path').first().getAttribute('d'))!.split('L')).toHaveLength(20);
    expect(await panel.locator('.chart figcaption').first().textContent()).toMatch(/^rate: 0\.(0[1-9]|[1-9])\d*\/s$/);
  });

  it('shows the live tap of the selected service', async () => {
    await page.locator('#tap-toggle').click();
    await expect.poll(() => page.locator('#tap-note').textContent(), { timeout: 5_000 }).toMatch(/tapping orders.default on 1 sidecar/);
    for (let i = 0; i < 5; i++) await fromFrontend('orders', `/tapped/${i}`);
    await expect.poll(() => page.locator('#tap-rows tr').count(), { timeout: 5_000 }).toBeGreaterThanOrEqual(5);
    expect(await page.locator('#tap-rows').textContent()).toContain('/tapped/4');
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-service-panel.png') });
    await page.locator('#tap-toggle').click();
  });

  it('flags a call no declaration covers as unexpected, in the API, the Node Graph API and the page', async () => {
    expect((await fromFrontend('payments', '/charge')).status).toBe(200);
    await eventually(async () => (await apiGraph(cp.http)).edges.some((e) => e.id === 'frontend.default->payments.default' && e.unexpected), 10_000, 'frontend->payments flagged in /api/v1/graph');
    const grafana = (await (await fetch(`${base()}/api/graph/data`)).json()) as { edges: Record<string, unknown>[] };
    expect(grafana.edges.find((e) => e['id'] === 'frontend.default->payments.default')).toMatchObject({ detail__unexpected: 'yes', color: 'red' });
    await page.keyboard.press('Escape');
    const row = page.locator('[data-edge-id="frontend.default->payments.default"]');
    await expect.poll(() => row.count(), { timeout: 15_000 }).toBe(1);
    expect(await row.textContent()).toContain('unexpected');
    await row.click();
    expect(await page.locator('#panel').textContent()).toMatch(/payments declares its callers .* frontend is not among them/);
    await page.keyboard.press('Escape');
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-1280x800.png') });
  });

  it('can be used from the keyboard, and the filters narrow the graph', async () => {
    await page.locator('#graph').focus();
    await page.keyboard.press('ArrowRight');
    expect(await page.locator('#panel h2[data-panel="service"]').count()).toBe(1);
    await page.keyboard.press('ArrowDown');
    expect(await page.locator('#panel h2[data-panel="edge"]').count()).toBe(1);
    await page.keyboard.press('Escape');
    expect(await page.locator('#panel h2').textContent()).toBe('Mesh');
    await page.locator('#errors-only').check();
    // Only the unexpected call is left (nothing failed).
    await expect.poll(() => page.locator('#graph').getAttribute('data-edges')).toBe('frontend.default->payments.default');
    await page.locator('#errors-only').uncheck();
    // A namespace shows its services and the calls into or out of them.
    expect((await fromFrontend('billing.shop', '/invoice')).status).toBe(200);
    await expect.poll(() => page.locator('#graph').getAttribute('data-edges'), { timeout: 15_000 }).toContain('frontend.default->billing.shop');
    await page.locator('#namespace').selectOption('shop');
    expect(await page.locator('#graph').getAttribute('data-edges')).toBe('frontend.default->billing.shop');
    expect(await page.locator('#graph').getAttribute('data-nodes')).toBe('billing.shop frontend.default');
    await page.locator('#namespace').selectOption('');
  });

  it('fits a phone screen without sideways scrolling', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(300);
    expect(await page.locator('html').evaluate((el) => el.scrollWidth)).toBeLessThanOrEqual(390);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-phone.png'), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  it('meshlight tap shows the requests made while it runs, filtered by path and method, and stops after --max', async () => {
    const tap = runCli(['tap', 'orders', '--control-plane', cp.address, '--path', '/wanted', '--method', 'get', '--max', '3']);
    await eventually(() => tap.output.stderr.includes('tapping orders.default GET /wanted* on 1 sidecar'), 10_000, 'the tap to start');
    const sender = (async () => {
      for (let i = 0; tap.proc.exitCode === null && i < 200; i++) {
        await fromFrontend('orders', i % 2 === 0 ? `/other/${i}` : `/wanted/${i}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    expect(await tap.exited).toBe(0);
    await sender;
    const lines = tap.output.stdout.trim().split('\n');
    expect(lines).toHaveLength(3);
    for (const line of lines) {
      expect(line).toMatch(/^\d{4}-\d\d-\d\dT\S+Z inbound\s+GET orders \/wanted\/\d+ -> 200 \d+\.\dms flags=- src=frontend\.default dst=orders\.default trace=[0-9a-f]{32}$/);
    }
  });

  it('a tap whose reader stops reading costs requests nothing: what it cannot take is dropped and counted', async () => {
    const client = new (meshControl().Client)(cp.address, grpc.credentials.createInsecure());
    const tap = client.Tap({ service: 'orders', path_prefix: '/flood', method: '', max: 0 });
    const events: TapEvent[] = [];
    tap.on('data', (e: TapEvent) => events.push(e));
    tap.on('error', () => undefined);
    await eventually(() => events.some((e) => e.notice.includes('on 1 sidecar')), 5_000, 'the tap to start');
    tap.pause(); // a reader that has stopped reading: HTTP/2 flow control backs up to the control plane
    const cpMetrics = async (): Promise<string> => (await fetch(`${base()}/metrics`)).text();
    expect(sample(await cpMetrics(), 'meshlight_cp_taps')).toBe(1);
    const total = 3_000;
    let next = 0;
    const statuses: number[] = [];
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (next < total) statuses.push((await fromFrontend('orders', `/flood/${next++}`)).status);
    }));
    expect(statuses.filter((st) => st !== 200)).toEqual([]);
    tap.resume();
    const seen = (): { delivered: number; dropped: number } => {
      const requests = events.filter((e) => e.notice === '');
      return { delivered: requests.length, dropped: requests.reduce((n, e) => n + e.dropped, 0) };
    };
    // The last requests may still be in the sidecar's buffer: one more request carries any count left.
    await eventually(async () => {
      await fromFrontend('orders', '/flood/last');
      const { delivered, dropped } = seen();
      return delivered + dropped >= total + 1;
    }, 10_000, 'every flooded request delivered or counted as dropped');
    const { delivered, dropped } = seen();
    expect(dropped).toBeGreaterThan(0);
    expect(delivered).toBeLessThan(total);
    const metrics = await cpMetrics();
    expect(sample(metrics, 'meshlight_cp_tap_dropped_total')).toBeGreaterThanOrEqual(dropped);
    expect(sample(metrics, 'meshlight_cp_tap_requests_total')).toBeGreaterThanOrEqual(delivered);
    tap.cancel();
    client.close();
    await eventually(async () => sample(await cpMetrics(), 'meshlight_cp_taps') === 0, 5_000, 'the tap to end with its reader');
  });

  it('meshlight tap refuses a service the mesh does not have, naming the ones it has', async () => {
    const tap = runCli(['tap', 'nosuch', '--control-plane', cp.address]);
    expect(await tap.exited).toBe(1);
    expect(tap.output.stderr).toMatch(/no service nosuch.default in the mesh \(known: .*orders.default/);
    const unnamed = runCli(['tap', '--control-plane', cp.address]);
    expect(await unnamed.exited).toBe(2);
    expect(unnamed.output.stderr).toBe('meshlight tap: name the service to tap, e.g. meshlight tap orders\n');
    const deadPort = await freePort();
    const nobody = runCli(['tap', 'orders', '--control-plane', `127.0.0.1:${deadPort}`]);
    expect(await nobody.exited).toBe(1);
    expect(nobody.output.stderr).toMatch(new RegExp(`^meshlight tap: the control plane at 127\\.0\\.0\\.1:${deadPort} is unreachable`));
  });
});

describe('the dashboard of a mesh without traffic', () => {
  it('says so instead of showing an empty canvas', async () => {
    const cp = await startControlPlane({ files: { 'services.yaml': service('orders', 1, '') } });
    const profile = await mkdtemp(join(tmpdir(), 'meshlight-chromium-'));
    const browser = await launch(profile);
    try {
      const page = browser.pages()[0] ?? (await browser.newPage());
      await page.goto(`http://127.0.0.1:${cp.http}/`);
      await expect.poll(() => page.locator('#empty').isVisible(), { timeout: 10_000 }).toBe(true);
      expect(await page.locator('#empty').textContent()).toContain('No traffic yet');
      expect(await page.locator('#status').textContent()).toMatch(/updated .* 0 sidecars/);
    } finally {
      await browser.close();
      await rm(profile, { recursive: true, force: true });
      await cp.stop();
    }
  });
});

describe('the tap on a control plane that checks tokens', () => {
  it('takes a sidecar\'s tap channel only with its token, for its own service, and taps it', async () => {
    const app = await startUpstream('orders-app');
    const tokens = await configDir({ tokens: 'frontend.default t0k3n-frontend-0123456789\n', 'frontend.token': 't0k3n-frontend-0123456789\n' });
    const cp = await startControlPlane({
      files: { 'services.yaml': [service('frontend', 1, ''), service('orders', app.port, '')].join('---\n') },
      args: ['--token-file', join(tokens, 'tokens')],
    });
    const frontend = await startProxy({ files: {}, controlPlane: cp.address, service: 'frontend', args: ['--token-file', join(tokens, 'frontend.token')] });
    const client = new (meshControl().Client)(cp.address, grpc.credentials.createInsecure());
    try {
      // A channel without a token, and one with frontend's token claiming to be orders, are refused.
      const refusal = (metadata: grpc.Metadata, nodeService: string): Promise<grpc.ServiceError> => new Promise((resolve) => {
        const ch = client.TapChannel(metadata);
        ch.on('error', resolve);
        ch.write({ node: { id: 'forger/1', service: nodeService, namespace: 'default', address: '' }, tap_id: '', events: [], dropped: 0 });
      });
      expect((await refusal(new grpc.Metadata(), 'orders')).code).toBe(grpc.status.UNAUTHENTICATED);
      const stolen = new grpc.Metadata();
      stolen.set('authorization', 'Bearer t0k3n-frontend-0123456789');
      expect((await refusal(stolen, 'orders')).code).toBe(grpc.status.PERMISSION_DENIED);
      // The real sidecar's channel is taken: its outbound calls are tapped.
      const tap = runCli(['tap', 'frontend', '--control-plane', cp.address, '--max', '2']);
      await eventually(() => tap.output.stderr.includes('on 1 sidecar'), 10_000, 'the tap to reach the sidecar');
      for (let i = 0; i < 2; i++) await call(frontend.outbound, 'orders', `/out/${i}`);
      expect(await tap.exited).toBe(0);
      expect(tap.output.stdout).toMatch(/outbound GET orders \/out\/0 -> 200 .* src=frontend\.default dst=orders\.default/);
    } finally {
      client.close();
      await frontend.stop();
      await cp.stop();
      await app.close();
    }
  });
});
