import { cp, readdir, readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configDir, eventually, replaceFile, runCli } from './helpers/processes.js';
import { freeBase, portFree, startDemo } from './helpers/demo.js';
import { connectionRefused } from './helpers/net.js';

describe('npm start: the demo mesh', () => {
  it('runs every service behind a sidecar fed by the control plane, prints what to try, shows the canary split, the graph and errors, and stops by itself', async () => {
    const dir = await configDir({});
    await cp(resolve(import.meta.dirname, '../config/demo'), dir, { recursive: true });
    const { demo, ports } = await startDemo(['--duration', '12s', '--rps', '40', '--config', dir]);
    const out = demo.output.stdout;
    for (const app of ports.instances) expect(out).toContain(`${app.instance.padEnd(10)} app :${app.appPort}`);
    const url = /curl -s (http:\/\/127\.0\.0\.1:\d+\/) /.exec(out)?.[1];
    expect(url).toBe(`http://127.0.0.1:${ports.instances[0]!.inbound}/`);
    const logDir = /Access logs: (\S+)\/<instance>\.log/.exec(out)?.[1];
    expect(logDir).toMatch(/meshlight-demo-/);
    // The printed URL works while the demo runs (payments fails now and then, so allow a retry).
    let body: { service?: string; calls?: { orders?: { status: number } } } = {};
    await eventually(async () => {
      const res = await fetch(url!);
      body = (await res.json()) as typeof body;
      return res.status === 200;
    }, 5_000, 'a 200 from the printed frontend URL');
    expect(body).toMatchObject({ service: 'frontend', calls: { orders: { status: 200 } } });

    // Every sidecar took its config from the control plane, and the graph shows the demo's calls.
    const cpUrl = `http://127.0.0.1:${ports.controlPlane.http}`;
    expect(out).toContain(`${cpUrl}/api/v1/graph?window=60s`);
    type Listed = { service: string; synced: boolean }[];
    const sidecars = (await (await fetch(`${cpUrl}/api/v1/sidecars`)).json()) as Listed;
    expect(sidecars.map((s) => s.service).sort()).toEqual(['frontend', 'inventory', 'orders', 'orders', 'payments']);
    // A sidecar that just asked for a service it calls is between that push and its ACK for a moment.
    let synced = false;
    await eventually(async () => (synced = ((await (await fetch(`${cpUrl}/api/v1/sidecars`)).json()) as Listed).every((s) => s.synced)), 5_000, 'every sidecar synced').catch(() => undefined);
    expect(synced).toBe(true);
    let edges: { id: string; requests: number; unexpected: boolean }[] = [];
    await eventually(async () => {
      edges = ((await (await fetch(`${cpUrl}/api/v1/graph?window=60s`)).json()) as { edges: typeof edges }).edges;
      const seen = edges.filter((e) => e.requests > 0).map((e) => e.id);
      return ['unknown->frontend.default', 'frontend.default->orders.default', 'orders.default->payments.default', 'orders.default->inventory.default'].every((id) => seen.includes(id));
    }, 10_000, 'the demo edges in the graph');
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
    }, 10_000, 'orders v2 answering after the route edit');

    expect(await demo.exited).toBe(0);
    expect(demo.output.stdout).toMatch(/traffic: sent \d+, .* \| orders v1 \d+ \(\d+%\).*; last 5 s: /);
    const final = /final: (.*)\n/.exec(demo.output.stdout)?.[1] ?? '';
    expect(final).toMatch(/200: \d+/);
    expect(final).toMatch(/502: \d+/); // payments' injected failures surface at the frontend
    expect(final).toMatch(/orders v1 \d+ \(\d+%\), v2 \d+/);
    expect(final).not.toMatch(/failed: \d+/); // every call got an answer (a hung one fails after the apps' 10 s)
    for (const app of ports.instances) {
      expect(await portFree(app.appPort)).toBe(true);
      expect(await portFree(app.inbound)).toBe(true);
    }
    expect((await readdir(tmpdir())).includes(logDir!.split('/').pop()!)).toBe(false); // its logs are cleaned up
  }, 150_000);

  it('on a busy port exits 1 at once, naming the port, even when what holds it never answers', async () => {
    const ports = await freeBase();
    // Accepts connections and never answers: a waiting client would hang on it.
    const holder: Server = createServer(() => undefined);
    await new Promise<void>((res) => holder.listen(ports.controlPlane.http, '127.0.0.1', res));
    try {
      const started = Date.now();
      const demo = runCli(['demo', '--base-port', String(ports.base), '--duration', '20s']);
      expect(await demo.exited).toBe(1);
      expect(Date.now() - started).toBeLessThan(10_000); // a hang would run into the 20 s duration
      expect(demo.output.stderr).toContain(`${ports.controlPlane.http} (the control plane's HTTP)`);
      expect(demo.output.stderr).toContain('--base-port');
      expect(await portFree(ports.instances[0]!.appPort)).toBe(true); // it started nothing
    } finally {
      await new Promise((res) => holder.close(res));
    }
  });

  it('takes its control plane and sidecars with it when killed with SIGKILL, and the next demo removes its logs', async () => {
    const { demo, ports } = await startDemo(['--duration', '60s']);
    const logDir = /Access logs: (\S+)\/<instance>\.log/.exec(demo.output.stdout)![1]!;
    process.kill(demo.proc.pid!, 'SIGKILL'); // the demo alone: its children are not signalled
    await demo.exited;
    const children = [ports.controlPlane.http, ...ports.instances.map((a) => a.admin)];
    await eventually(async () => (await Promise.all(children.map(connectionRefused))).every(Boolean), 15_000, 'every child of the killed demo gone');
    expect((await readdir(tmpdir())).includes(logDir.split('/').pop()!)).toBe(true);
    const again = await startDemo(['--duration', '1s']);
    expect(await again.demo.exited).toBe(0);
    expect((await readdir(tmpdir())).includes(logDir.split('/').pop()!)).toBe(false);
  }, 150_000);

  it('rejects a bad flag value with exit 2', async () => {
    const r = runCli(['demo', '--rps', 'lots']);
    expect(await r.exited).toBe(2);
    expect(r.output.stderr).toBe("meshlight demo: --rps must be a positive whole number, got 'lots'\n");
    const b = runCli(['demo', '--base-port', '65000']);
    expect(await b.exited).toBe(2);
    expect(b.output.stderr).toContain('--base-port must be 1024-');
  });
});
