// A sidecar's life as an operator sees it: startup and its failures, the admin endpoints, live config
// changes (good and bad, also under load), and the SIGTERM drain.
import { mkdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { join, resolve } from 'node:path';
import { Client } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { call, connectionRefused, freePort, startBlackhole, startUpstream, type Upstream } from './helpers/net.js';
import { cli, configDir, eventually, meshService, runCli, startProxy, type ProxyProcess } from './helpers/processes.js';

/** An HTTPRoute for service `web` sending everything to `backends` (`name` or `name=weight`). */
function webRoute(...backends: string[]): string {
  const refs = backends.map((b) => {
    const [name, weight] = b.split('=');
    return `        - name: ${name}${weight !== undefined ? `\n          weight: ${weight}` : ''}`;
  });
  return `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: web
spec:
  parentRefs:
    - kind: Service
      name: web
  rules:
    - backendRefs:
${refs.join('\n')}
`;
}

interface ConfigDump {
  version: string | null;
  services: { key: string; endpoints: { address: string }[] }[];
  http_routes: { name: string }[];
  last_rejected?: string[];
}

async function admin(port: number, path: string): Promise<Response> {
  return fetch(`http://127.0.0.1:${port}${path}`);
}

async function configDump(port: number): Promise<ConfigDump> {
  const res = await admin(port, '/config_dump');
  expect(res.status).toBe(200);
  return (await res.json()) as ConfigDump;
}

const sleep = (ms: number): Promise<void> => new Promise((res) => setTimeout(res, ms));

describe('admin endpoints', () => {
  let a: Upstream;
  let deadPort: number;
  let proxy: ProxyProcess;

  beforeAll(async () => {
    a = await startUpstream('a');
    deadPort = await freePort(); // nothing listens here
    proxy = await startProxy({
      files: {
        'mesh.yaml': `${meshService('a', [a.port])}---\n${meshService('flaky', [deadPort])}---\n${meshService('web', [])}`,
        'route.yaml': webRoute('a'),
      },
    });
  });

  afterAll(async () => {
    await proxy?.stop();
    await a?.close();
  });

  it('answers /healthz/ready with 200 once the listeners are up', async () => {
    const res = await admin(proxy.admin, '/healthz/ready');
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('ready\n');
    // ... and ready means ready: the outbound listener routes.
    expect((await call(proxy.outbound, 'web')).body).toBe('a');
  });

  it('shows the active config, its version, services and routes in /config_dump', async () => {
    const dump = await configDump(proxy.admin);
    expect(dump.version).toMatch(/^[0-9a-f]{8,}$/);
    expect(dump.services.map((s) => s.key).sort()).toEqual(['a.default', 'flaky.default', 'web.default']);
    expect(dump.services.find((s) => s.key === 'a.default')!.endpoints.map((e) => e.address)).toEqual([`127.0.0.1:${a.port}`]);
    expect(dump.http_routes.map((r) => r.name)).toEqual(['web']);
    expect(dump.last_rejected).toBeUndefined();
  });

  it('lists every endpoint in /clusters with its state and counters', async () => {
    const before = (await call(proxy.outbound, 'flaky')).status;
    expect(before).toBe(503); // connect refused: UF
    await call(proxy.outbound, 'a');
    const res = await admin(proxy.admin, '/clusters');
    expect(res.status).toBe(200);
    const { clusters } = (await res.json()) as { clusters: { name: string; endpoints: Record<string, unknown>[] }[] };
    expect(clusters.map((c) => c.name).sort()).toEqual(['a.default', 'flaky.default', 'web.default']);
    const ep = (name: string) => clusters.find((c) => c.name === name)!.endpoints;
    expect(ep('a.default')).toEqual([
      expect.objectContaining({ address: `127.0.0.1:${a.port}`, state: 'healthy', active_requests: 0, errors_total: 0, connect_failures_total: 0 }),
    ]);
    expect(ep('a.default')[0]!['requests_total']).toBeGreaterThanOrEqual(2);
    expect(ep('flaky.default')).toEqual([
      expect.objectContaining({ address: `127.0.0.1:${deadPort}`, state: 'unreachable', connect_failures_total: 1, last_error: expect.stringContaining('ECONNREFUSED') }),
    ]);
    expect(ep('web.default')).toEqual([]);
  });

  it('writes its diagnostics to stderr, leaving stdout to access-log lines (JSON)', async () => {
    await call(proxy.outbound, 'web');
    await call(proxy.outbound, 'nowhere');
    expect(proxy.output.stderr).toContain(`listening: outbound 127.0.0.1:${proxy.outbound}`);
    for (const line of proxy.output.stdout.split('\n').filter((l) => l !== '')) {
      expect(() => JSON.parse(line) as unknown, line).not.toThrow();
    }
  });

  it('answers an unknown admin path with 404 and the list of endpoints', async () => {
    const res = await admin(proxy.admin, '/nope');
    expect(res.status).toBe(404);
    expect(await res.text()).toContain('/config_dump');
  });
});

describe('hot reload', () => {
  let a: Upstream;
  let b: Upstream;
  let proxy: ProxyProcess;
  let routeFile: string;

  beforeAll(async () => {
    a = await startUpstream('a');
    b = await startUpstream('b');
    proxy = await startProxy({
      files: { 'mesh.yaml': `${meshService('a', [a.port])}---\n${meshService('b', [b.port])}---\n${meshService('web', [])}`, 'route.yaml': webRoute('a') },
    });
    routeFile = join(proxy.configDir, 'route.yaml');
  });

  afterAll(async () => {
    await proxy?.stop();
    await a?.close();
    await b?.close();
  });

  /** stderr written since `from` (an offset into it). */
  const stderrSince = (from: number): string => proxy.output.stderr.slice(from);

  it('applies a valid change within seconds, rejects invalid ones with FILE:LINE:COL and keeps serving, then accepts a valid one again', async () => {
    expect((await call(proxy.outbound, 'web')).body).toBe('a');
    const v1 = (await configDump(proxy.admin)).version;

    // 1. A valid change: web now goes to b.
    const t0 = Date.now();
    await writeFile(routeFile, webRoute('b'));
    await eventually(async () => (await call(proxy.outbound, 'web')).body === 'b', 3_000, 'web to route to b');
    const appliedMs = Date.now() - t0;
    const v2 = (await configDump(proxy.admin)).version;
    expect(v2).not.toBe(v1);

    // 2. A YAML syntax error: logged as FILE:LINE:COL, shown in /config_dump, old config keeps serving.
    let mark = proxy.output.stderr.length;
    await writeFile(routeFile, webRoute('a').replace('    - kind: Service\n      name: web', '    - kind: Service\n      name: "web'));
    await eventually(() => stderrSince(mark).includes('config rejected'), 3_000, 'the syntax error to be logged');
    const syntaxLine = new RegExp(`^\\S+ error \\S+: ${escape(routeFile)}:\\d+:\\d+: YAML syntax: .+$`, 'm');
    expect(stderrSince(mark)).toMatch(syntaxLine);
    let dump = await configDump(proxy.admin);
    expect(dump.version).toBe(v2);
    expect(dump.last_rejected).toEqual([expect.stringMatching(new RegExp(`^${escape(routeFile)}:\\d+:\\d+: YAML syntax: `))]);
    expect((await call(proxy.outbound, 'web')).body).toBe('b');

    // 3. A reference to a service that does not exist: same, with the exact position of the name.
    mark = proxy.output.stderr.length;
    await writeFile(routeFile, webRoute('ghost'));
    await eventually(() => stderrSince(mark).includes('config rejected'), 3_000, 'the unknown backend to be logged');
    const problem = `${routeFile}:11:17: spec.rules[0].backendRefs[0].name: unknown service "ghost.default"`;
    expect(stderrSince(mark)).toContain(` error meshlight: ${problem}`);
    expect(stderrSince(mark)).toContain(`still serving version ${v2}`);
    dump = await configDump(proxy.admin);
    expect(dump.version).toBe(v2);
    expect(dump.last_rejected).toEqual([expect.stringContaining(problem)]);
    expect((await call(proxy.outbound, 'web')).body).toBe('b');
    expect(proxy.proc.exitCode).toBeNull();

    // 4. A valid change is accepted again, and the rejection is gone from /config_dump.
    await writeFile(routeFile, webRoute('a=1', 'b=0'));
    await eventually(async () => (await call(proxy.outbound, 'web')).body === 'a', 3_000, 'web to route to a again');
    dump = await configDump(proxy.admin);
    expect(dump.version).not.toBe(v2);
    expect(dump.version).not.toBe(v1);
    expect(dump.last_rejected).toBeUndefined();
    console.info(`hot reload: valid change served ${appliedMs} ms after the write`);
  });

  it('clears the rejection when a broken file is put back the way it was', async () => {
    await writeFile(routeFile, webRoute('b'));
    await eventually(async () => (await call(proxy.outbound, 'web')).body === 'b', 3_000, 'web to route to b');
    const good = (await configDump(proxy.admin)).version;
    await writeFile(routeFile, webRoute('ghost'));
    await eventually(async () => (await configDump(proxy.admin)).last_rejected !== undefined, 3_000, 'the change to be rejected');
    await writeFile(routeFile, webRoute('b'));
    await eventually(async () => (await configDump(proxy.admin)).last_rejected === undefined, 3_000, 'the rejection to be cleared');
    expect((await configDump(proxy.admin)).version).toBe(good);
    expect((await call(proxy.outbound, 'web')).body).toBe('b');
  });
});

describe('hot reload and what is already running', () => {
  const ups: Upstream[] = [];
  let proxy: ProxyProcess | undefined;

  afterEach(async () => {
    await proxy?.stop();
    proxy = undefined;
    await Promise.all(ups.splice(0).map((u) => u.close()));
  });

  it('lets a request in flight finish on the config it started with, even when the change removes its service', async () => {
    const slow = await startUpstream('slow', (req: IncomingMessage, res: ServerResponse) => {
      req.resume();
      setTimeout(() => res.end('slow'), 800);
    });
    const other = await startUpstream('other');
    ups.push(slow, other);
    proxy = await startProxy({ files: { 'mesh.yaml': `${meshService('slow', [slow.port])}---\n${meshService('other', [other.port])}` } });
    const p = proxy;
    const v1 = (await configDump(p.admin)).version;
    const pending = call(p.outbound, 'slow');
    await eventually(() => slow.seen.length === 1, 2_000, 'the request to reach the upstream');
    await writeFile(join(p.configDir, 'mesh.yaml'), meshService('other', [other.port]));
    await eventually(async () => (await configDump(p.admin)).version !== v1, 3_000, 'the change to apply');
    expect((await call(p.outbound, 'slow')).status).toBe(404);
    const r = await pending;
    expect(`${r.status} ${r.body}`).toBe('200 slow');
  });

  it('keeps the keep-alive connections to an endpoint across a reload', async () => {
    const a = await startUpstream('a');
    ups.push(a);
    let connections = 0;
    a.server.on('connection', () => connections++);
    proxy = await startProxy({ files: { 'mesh.yaml': meshService('a', [a.port]) } });
    const p = proxy;
    for (let i = 0; i < 5; i++) expect((await call(p.outbound, 'a')).body).toBe('a');
    const v1 = (await configDump(p.admin)).version;
    await writeFile(join(p.configDir, 'mesh.yaml'), `${meshService('a', [a.port])}---\n${meshService('b', [a.port])}`);
    await eventually(async () => (await configDump(p.admin)).version !== v1, 3_000, 'the change to apply');
    for (let i = 0; i < 5; i++) expect((await call(p.outbound, i % 2 === 0 ? 'a' : 'b')).body).toBe('a');
    expect(connections).toBe(1);
  });

  it('keeps serving when every config file is removed, and picks the config up again when it is back', async () => {
    const a = await startUpstream('a');
    ups.push(a);
    proxy = await startProxy({ files: { 'mesh.yaml': meshService('a', [a.port]) } });
    const p = proxy;
    const file = join(p.configDir, 'mesh.yaml');
    await rm(file);
    await eventually(async () => ((await configDump(p.admin)).last_rejected ?? []).some((l) => l.includes('no .yaml, .yml or .json files')), 3_000, 'the empty directory to be rejected');
    expect((await call(p.outbound, 'a')).body).toBe('a');
    await writeFile(file, `${meshService('a', [a.port])}---\n${meshService('b', [a.port])}`);
    await eventually(async () => (await call(p.outbound, 'b')).status === 200, 3_000, 'the new config to apply');
    expect((await configDump(p.admin)).last_rejected).toBeUndefined();
  });
});

describe('hot reload of the ways config files are updated in practice', () => {
  let a: Upstream;
  let b: Upstream;
  let proxy: ProxyProcess | undefined;

  beforeAll(async () => {
    a = await startUpstream('a');
    b = await startUpstream('b');
  });

  afterEach(async () => {
    await proxy?.stop();
    proxy = undefined;
  });

  afterAll(async () => {
    await a?.close();
    await b?.close();
  });

  const config = (backend: string): string =>
    `${meshService('a', [a.port])}---\n${meshService('b', [b.port])}---\n${meshService('web', [])}---\n${webRoute(backend)}`;

  it('--config FILE saved by rename, as editors save', async () => {
    const dir = await configDir({ 'mesh.yaml': config('a') });
    const file = join(dir, 'mesh.yaml');
    proxy = await startProxy({ files: {}, config: file });
    expect((await call(proxy.outbound, 'web')).body).toBe('a');
    await writeFile(join(dir, '.mesh.yaml.swp'), config('b'));
    await rename(join(dir, '.mesh.yaml.swp'), file);
    const p = proxy;
    await eventually(async () => (await call(p.outbound, 'web')).body === 'b', 3_000, 'web to route to b');
  });

  // A ConfigMap volume: the files are symlinks through `..data`, which the kubelet swaps atomically.
  it.each(['directory', 'file'])('a Kubernetes ConfigMap update, with --config naming the mount %s', async (what) => {
    const dir = await configDir({});
    await mkdir(join(dir, '..2026_01_01_v1'));
    await writeFile(join(dir, '..2026_01_01_v1', 'mesh.yaml'), config('a'));
    await symlink('..2026_01_01_v1', join(dir, '..data'));
    await symlink('..data/mesh.yaml', join(dir, 'mesh.yaml'));
    proxy = await startProxy({ files: {}, config: what === 'file' ? join(dir, 'mesh.yaml') : dir });
    expect((await call(proxy.outbound, 'web')).body).toBe('a');

    await mkdir(join(dir, '..2026_01_01_v2'));
    await writeFile(join(dir, '..2026_01_01_v2', 'mesh.yaml'), config('b'));
    await symlink('..2026_01_01_v2', join(dir, '..data_tmp'));
    await rename(join(dir, '..data_tmp'), join(dir, '..data'));
    await rm(join(dir, '..2026_01_01_v1'), { recursive: true });
    const p = proxy;
    await eventually(async () => (await call(p.outbound, 'web')).body === 'b', 3_000, 'web to route to b');
    expect(p.output.stderr).not.toContain('config rejected');
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

describe('reload under load', () => {
  const ups: Upstream[] = [];
  let proxy: ProxyProcess;

  afterAll(async () => {
    await proxy?.stop();
    await Promise.all(ups.map((u) => u.close()));
  });

  it('serves 20 keep-alive clients without one failed request while the config is rewritten', async () => {
    const [a1, a2, b] = [await startUpstream('a1'), await startUpstream('a2'), await startUpstream('b')];
    ups.push(a1, a2, b);
    // Two valid configs, alternated: they move web between backends and replace a's endpoint, so pools
    // are both kept and retired while requests are in flight.
    const configX = `${meshService('a', [a1.port])}---\n${meshService('b', [b.port])}---\n${meshService('web', [])}---\n${webRoute('a')}`;
    const configY = `${meshService('a', [a2.port])}---\n${meshService('b', [b.port])}---\n${meshService('web', [])}---\n${webRoute('a=1', 'b=1')}`;
    proxy = await startProxy({ files: { 'mesh.yaml': configX } });
    const file = join(proxy.configDir, 'mesh.yaml');

    const failures: string[] = [];
    const bodies = new Map<string, number>();
    let total = 0;
    let stop = false;
    const worker = async (): Promise<void> => {
      const client = new Client(`http://127.0.0.1:${proxy.outbound}`, { pipelining: 1 });
      try {
        while (!stop) {
          try {
            const res = await client.request({ path: '/', method: 'GET', headers: { host: 'web' } });
            const body = await res.body.text();
            total++;
            if (res.statusCode !== 200) failures.push(`${res.statusCode} ${body.trim()}`);
            else bodies.set(body, (bodies.get(body) ?? 0) + 1);
          } catch (err) {
            total++;
            failures.push(String(err));
          }
        }
      } finally {
        await client.close();
      }
    };
    const workers = Array.from({ length: 20 }, worker);

    const versions = new Set<string | null>();
    for (let i = 0; i < 6; i++) {
      await sleep(450);
      versions.add((await configDump(proxy.admin)).version);
      await writeFile(file, i % 2 === 0 ? configY : configX);
    }
    await sleep(450);
    versions.add((await configDump(proxy.admin)).version);
    stop = true;
    await Promise.all(workers);

    console.info(`reload under load: ${total} requests, ${failures.length} failed, bodies ${JSON.stringify(Object.fromEntries(bodies))}`);
    expect(failures.slice(0, 5)).toEqual([]);
    expect(total).toBeGreaterThan(500);
    // Both configs were really in force: every backend answered, and two versions were seen.
    expect([...bodies.keys()].sort()).toEqual(['a1', 'a2', 'b']);
    expect(versions.size).toBe(2);
    expect(proxy.output.stderr).not.toContain('config rejected');
  });
});

describe('SIGTERM drain', () => {
  const ups: Upstream[] = [];
  let proxy: ProxyProcess | undefined;

  afterEach(async () => {
    await proxy?.stop('SIGKILL');
    await Promise.all(ups.splice(0).map((u) => u.close()));
  });

  /** An upstream that answers after `delayMs`, and reports whether the proxy gave up on a request first. */
  async function slowUpstream(delayMs: number): Promise<{ port: number; seen: Upstream['seen']; readonly abandoned: number }> {
    const state = { abandoned: 0 };
    const up = await startUpstream('slow', (req: IncomingMessage, res: ServerResponse) => {
      req.resume();
      const timer = setTimeout(() => res.end('slow'), delayMs);
      res.on('close', () => {
        if (!res.writableFinished) {
          clearTimeout(timer);
          state.abandoned++;
        }
      });
    });
    ups.push(up);
    return {
      port: up.port,
      seen: up.seen,
      get abandoned() {
        return state.abandoned;
      },
    };
  }

  it('stops accepting, finishes the requests in flight with Connection: close, and exits 0', async () => {
    const slow = await slowUpstream(1_000);
    proxy = await startProxy({ files: { 'mesh.yaml': meshService('slow', [slow.port]) }, args: ['--drain-timeout', '5s'] });
    const p = proxy;
    const inFlight = Array.from({ length: 5 }, () => call(p.outbound, 'slow'));
    // A client whose request head is half sent when SIGTERM comes: its request is answered during the drain.
    const late = connect(p.outbound, '127.0.0.1');
    let lateReply = '';
    late.setEncoding('latin1').on('data', (d: string) => (lateReply += d));
    const lateClosed = new Promise<void>((res) => late.on('close', () => res()));
    late.on('error', () => undefined);
    await new Promise((res) => late.once('connect', res));
    late.write('GET / HTTP/1.1\r\nHost: no-such-service\r\n');
    // A keep-alive client that is idle when SIGTERM comes: its connection is closed at once.
    const idle = connect(p.outbound, '127.0.0.1');
    let idleReply = '';
    idle.setEncoding('latin1').on('data', (d: string) => (idleReply += d));
    idle.on('error', () => undefined);
    let idleClosedAt = 0;
    idle.on('close', () => (idleClosedAt = Date.now()));
    idle.write('GET / HTTP/1.1\r\nHost: no-such-service\r\n\r\n');
    await eventually(() => idleReply.includes('no such service') || idleReply.includes('\r\n\r\n'), 2_000, 'the idle client to get its answer');
    expect(idleReply.toLowerCase()).not.toContain('connection: close'); // HTTP/1.1: kept alive unless it says close
    await eventually(() => slow.seen.length === 5, 3_000, 'the upstream to get all 5 requests');

    const t0 = Date.now();
    p.proc.kill('SIGTERM');
    await eventually(() => connectionRefused(p.outbound), 3_000, 'the outbound listener to stop accepting');
    const ready = await admin(p.admin, '/healthz/ready');
    expect(ready.status).toBe(503);
    expect(await ready.text()).toBe('draining\n');
    late.write('\r\n');
    await eventually(() => idleClosedAt !== 0, 3_000, 'the idle keep-alive connection to be closed');

    const replies = await Promise.all(inFlight);
    expect(replies.map((r) => `${r.status} ${r.body} ${r.headers.connection}`)).toEqual(Array(5).fill('200 slow close'));
    // Upper bounds are generous (a busy 2-core machine): what matters is well before the 5 s drain timeout.
    expect(Date.now() - t0).toBeLessThan(4_000);
    await lateClosed;
    // The local answer made while draining closes its connection too, like upstream answers do.
    expect(lateReply).toMatch(/^HTTP\/1\.1 404 /);
    expect(lateReply.toLowerCase()).toContain('\r\nconnection: close\r\n');
    expect(await p.exited).toBe(0);
    expect(slow.abandoned).toBe(0);
    expect(p.output.stderr).toContain('SIGTERM: draining');
    // Every request finished during the drain is in the access log: the last lines go out with the final flush.
    const logged = p.output.stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { authority: string; response_code: number; response_flags: string });
    expect(logged.filter((l) => l.authority === 'slow').map((l) => l.response_code)).toEqual(Array(5).fill(200));
    expect(logged.filter((l) => l.authority === 'no-such-service').map((l) => `${l.response_code} ${l.response_flags}`)).toEqual(['404 NR', '404 NR']);
  });

  it('exits 0 at once on SIGINT (Ctrl-C) with nothing in flight', async () => {
    proxy = await startProxy({ files: { 'mesh.yaml': meshService('a', [1]) } });
    const t0 = Date.now();
    proxy.proc.kill('SIGINT');
    expect(await proxy.exited).toBe(0);
    expect(Date.now() - t0).toBeLessThan(3_000); // not the 5 s drain timeout
    expect(proxy.output.stderr).toContain('SIGINT: draining');
  });

  it('exits soon after --drain-timeout when a request would take longer, cutting it', async () => {
    const slow = await slowUpstream(10_000);
    proxy = await startProxy({ files: { 'mesh.yaml': meshService('slow', [slow.port]) }, args: ['--drain-timeout', '1s'] });
    const p = proxy;
    const pending = call(p.outbound, 'slow').then(
      (r) => `answered ${r.status}`,
      (err: Error) => `cut: ${err.message}`,
    );
    await eventually(() => slow.seen.length === 1, 3_000, 'the upstream to get the request');

    const t0 = Date.now();
    p.proc.kill('SIGTERM');
    const code = await p.exited;
    const took = Date.now() - t0;
    console.info(`drain timeout 1s: exited ${took} ms after SIGTERM`);
    expect(code).toBe(0);
    expect(took).toBeGreaterThanOrEqual(1_000);
    expect(took).toBeLessThan(4_000); // the request would take 10 s
    expect(await pending).toMatch(/^cut: /);
    expect(p.output.stderr).toContain('drain time 1000 ms passed with 1 requests in flight');
    // The upstream request was cancelled, not left running.
    await eventually(() => slow.abandoned === 1, 2_000, 'the upstream to see the request cancelled');
  });
});

describe('SIGTERM drain with an upstream that never accepts', () => {
  let hole: { port: number; close(): void } | undefined;
  let proxy: ProxyProcess | undefined;

  afterEach(async () => {
    await proxy?.stop('SIGKILL');
    hole?.close();
  });

  it('exits soon after --drain-timeout even while an upstream connect hangs', async () => {
    hole = await startBlackhole();
    proxy = await startProxy({ files: { 'mesh.yaml': meshService('hole', [hole.port]) }, args: ['--drain-timeout', '1s', '--connect-timeout', '10s'] });
    const p = proxy;
    let outcome = 'pending';
    void call(p.outbound, 'hole').then(
      (r) => (outcome = `answered ${r.status}`),
      () => (outcome = 'cut'),
    );
    // The request is waiting for a connection that does not come.
    await eventually(async () => (await activeRequests(p.admin, 'hole.default')) === 1, 5_000, 'the request to be in flight');
    expect(outcome).toBe('pending');

    const t0 = Date.now();
    p.proc.kill('SIGTERM');
    const code = await p.exited;
    const took = Date.now() - t0;
    expect(code).toBe(0);
    expect(took).toBeLessThan(5_000); // the connect timeout is 10 s
    expect(outcome).toBe('cut');
  });
});

async function activeRequests(adminPort: number, cluster: string): Promise<number> {
  const res = await admin(adminPort, '/clusters');
  const body = (await res.json()) as { clusters: { name: string; endpoints: { active_requests: number }[] }[] };
  return body.clusters.find((c) => c.name === cluster)?.endpoints.reduce((n, e) => n + e.active_requests, 0) ?? -1;
}

describe('startup', () => {
  let blocker: Server | undefined;

  afterEach(async () => {
    await new Promise((res) => (blocker ? blocker.close(res) : res(undefined)));
    blocker = undefined;
  });

  it('exits 1 and prints FILE:LINE:COL for a config with a syntax error', async () => {
    const dir = await configDir({ 'bad.yaml': 'apiVersion: meshlight.dev/v1alpha1\nkind: MeshService\nmetadata: {name: a\nspec: {}\n' });
    const r = await cli(['proxy', '--config', dir, '--outbound-port', '0', '--admin-port', '0']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^${escape(join(dir, 'bad.yaml'))}:\\d+:\\d+: YAML syntax: .+$`, 'm'));
    expect(r.stderr).toContain('not starting');
    expect(r.stdout).toBe('');
  });

  it('exits 1 and names the path when the config does not exist', async () => {
    const r = await cli(['proxy', '--config', '/nonexistent/mesh.yaml', '--outbound-port', '0', '--admin-port', '0']);
    expect(r.stderr).toMatch(/^\/nonexistent\/mesh\.yaml:1:1: cannot read: ENOENT/m);
    expect(r.code).toBe(1);
  });

  it.each([
    [['--bogus'], /^meshlight proxy: .*'--bogus'.*\n$/],
    [['--outbound-port', 'abc'], /^meshlight proxy: --outbound-port must be a port number 0-65535, got 'abc'\n$/],
    [['--admin-port=70000'], /^meshlight proxy: --admin-port must be a port number 0-65535, got '70000'\n$/],
    [['--drain-timeout', 'soon'], /^meshlight proxy: --drain-timeout must be a duration like 250ms, 5s or 1m, got 'soon'\n$/],
    [['--log-level', 'loud'], /^meshlight proxy: --log-level must be one of .*, got 'loud'\n$/],
    [['--outbound-port'], /^meshlight proxy: .*'--outbound-port.*\n$/],
    [['extra'], /^meshlight proxy: .*'extra'.*\n$/],
  ])('exits 2 with a one-line reason for %j', async (flags, reason) => {
    const dir = await configDir({ 'mesh.yaml': meshService('a', [1]) });
    const r = await cli(['proxy', '--config', dir, ...flags]);
    expect(r.stderr).toMatch(reason);
    expect(r.code).toBe(2);
  });

  it('exits 2 without --config or --control-plane', async () => {
    const r = await cli(['proxy']);
    expect(r.stderr).toBe('meshlight proxy: --config FILE|DIR or --control-plane HOST:PORT is required\n');
    expect(r.code).toBe(2);
  });

  it.each(['outbound', 'inbound', 'admin'])('exits 1 with a clear message when the %s port is taken', async (which) => {
    blocker = createServer();
    await new Promise<void>((res) => blocker!.listen(0, '127.0.0.1', res));
    const taken = (blocker.address() as AddressInfo).port;
    const dir = await configDir({ 'mesh.yaml': meshService('a', [1]) });
    const ports: string[] = ['--bind-address', '127.0.0.1', '--app-port', '1'];
    for (const name of ['outbound', 'inbound', 'admin']) ports.push(`--${name}-port`, name === which ? String(taken) : String(await freePort()));
    const r = runCli(['proxy', '--config', dir, ...ports]);
    const code = await r.exited;
    expect(r.output.stderr).toContain(`cannot open the ${which} listener on 127.0.0.1:${taken}: address already in use`);
    expect(code).toBe(1);
  });

  it('lists its flags with --help and exits 0', async () => {
    const r = await cli(['proxy', '--help']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^usage: meshlight proxy /);
    const flags = ['config', 'service', 'namespace', 'app-port', 'outbound-port', 'inbound-port', 'admin-port', 'bind-address', 'drain-timeout',
      'connect-timeout', 'request-headers-timeout', 'max-request-headers-kb', 'log-level'];
    // One row per flag, its help in a column of its own (at least two spaces after the flag).
    for (const flag of flags) expect(r.stdout).toMatch(new RegExp(`^  --${flag} VALUE {2,}\\S`, 'm'));
    const columns = new Set([...r.stdout.matchAll(/^  --\S+(?: VALUE)? +(?=\S)/gm)].map((m) => m[0].length));
    expect(columns.size).toBe(1);
  });

  it('lists the commands with meshlight --help and exits 0; an unknown command exits 2', async () => {
    const r = await cli(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^usage: meshlight <command>/);
    expect(r.stdout).toMatch(/^  proxy +\S/m);
    expect(r.stdout).toMatch(/^  validate +\S/m);
    const bad = await cli(['proxi']);
    expect(bad.stderr).toBe("meshlight: unknown command 'proxi' (see meshlight --help)\n");
    expect(bad.code).toBe(2);
  });

  it('prints its version with meshlight --version', async () => {
    const pkg = JSON.parse(await readFile(resolve(import.meta.dirname, '../package.json'), 'utf8')) as { version: string };
    const r = await cli(['--version']);
    expect([r.code, r.stdout, r.stderr]).toEqual([0, `meshlight ${pkg.version}\n`, '']);
  });
});
