import { cp, readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEMO_CONTROL_PLANE, DEMO_INSTANCES } from '../src/demo/topology.js';
import { configDir, eventually, replaceFile, runCli } from './helpers/processes.js';

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

describe('npm start: the demo mesh', () => {
  it('runs every service behind a sidecar fed by the control plane, prints what to try, shows the canary split, the graph and errors, and stops by itself', async () => {
    const dir = await configDir({});
    await cp(resolve(import.meta.dirname, '../config/demo'), dir, { recursive: true });
    const demo = runCli(['demo', '--duration', '9s', '--rps', '40', '--config', dir]);
    await eventually(() => demo.output.stdout.includes('generating 40 requests/s'), 15_000, 'the demo banner');
    const out = demo.output.stdout;
    for (const app of DEMO_INSTANCES) expect(out).toContain(`${app.instance.padEnd(10)} app :${app.appPort}`);
    const url = /curl -s (http:\/\/127\.0\.0\.1:\d+\/) /.exec(out)?.[1];
    expect(url).toBe(`http://127.0.0.1:${DEMO_INSTANCES[0]!.inbound}/`);
    // The printed URL works while the demo runs (payments fails now and then, so allow a retry).
    let body: { service?: string; calls?: { orders?: { status: number } } } = {};
    await eventually(async () => {
      const res = await fetch(url!);
      body = (await res.json()) as typeof body;
      return res.status === 200;
    }, 5_000, 'a 200 from the printed frontend URL');
    expect(body).toMatchObject({ service: 'frontend', calls: { orders: { status: 200 } } });

    // Every sidecar took its config from the control plane, and the graph shows the demo's calls.
    const cpUrl = `http://127.0.0.1:${DEMO_CONTROL_PLANE.http}`;
    expect(out).toContain(`${cpUrl}/api/v1/graph?window=60s`);
    type Listed = { service: string; synced: boolean }[];
    const sidecars = (await (await fetch(`${cpUrl}/api/v1/sidecars`)).json()) as Listed;
    expect(sidecars.map((s) => s.service).sort()).toEqual(['frontend', 'inventory', 'orders', 'orders', 'payments']);
    // A sidecar that just asked for a service it calls is between that push and its ACK for a moment.
    let synced = false;
    await eventually(async () => (synced = ((await (await fetch(`${cpUrl}/api/v1/sidecars`)).json()) as Listed).every((s) => s.synced)), 3_000, 'every sidecar synced').catch(() => undefined);
    expect(synced).toBe(true);
    let edges: { id: string; requests: number; unexpected: boolean }[] = [];
    await eventually(async () => {
      edges = ((await (await fetch(`${cpUrl}/api/v1/graph?window=60s`)).json()) as { edges: typeof edges }).edges;
      const seen = edges.filter((e) => e.requests > 0).map((e) => e.id);
      return ['unknown->frontend.default', 'frontend.default->orders.default', 'orders.default->payments.default', 'orders.default->inventory.default'].every((id) => seen.includes(id));
    }, 5_000, 'the demo edges in the graph');
    // The demo declares every caller it has, so nothing is flagged; and its dashboard is where the banner says.
    expect(edges.filter((e) => e.unexpected)).toEqual([]);
    expect(out).toContain(`Dashboard: ${cpUrl}/`);
    const page = await fetch(`${cpUrl}/`, { headers: { accept: 'text/html' } });
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await page.text()).toContain('<title>meshlight dashboard</title>');

    // Editing the route file shifts the traffic: all of orders' calls to v2.
    const routes = join(dir, 'routes.yaml');
    await replaceFile(routes, (await readFile(routes, 'utf8')).replace('weight: 90', 'weight: 0').replace('weight: 10', 'weight: 100'));
    await eventually(async () => {
      const res = await fetch(url!);
      const b = (await res.json()) as typeof body & { calls?: { orders?: { version?: string } } };
      return b.calls?.orders?.version === 'v2';
    }, 5_000, 'orders v2 answering after the route edit');

    expect(await demo.exited).toBe(0);
    const final = /final: (.*)\n/.exec(demo.output.stdout)?.[1] ?? '';
    expect(final).toMatch(/200: \d+/);
    expect(final).toMatch(/502: \d+/); // payments' injected failures surface at the frontend
    expect(final).toMatch(/orders v1 \d+ \(\d+%\), v2 \d+/);
    for (const app of DEMO_INSTANCES) {
      expect(await portFree(app.appPort)).toBe(true);
      expect(await portFree(app.inbound)).toBe(true);
    }
  }, 40_000);

  it('rejects a bad flag value with exit 2', async () => {
    const r = runCli(['demo', '--rps', 'lots']);
    expect(await r.exited).toBe(2);
    expect(r.output.stderr).toBe("meshlight demo: --rps must be a positive whole number, got 'lots'\n");
  });
});
