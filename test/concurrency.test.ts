// `meshlight proxy --concurrency N`: N worker processes share the listeners; the primary serves one
// admin port with one /metrics for all of them, restarts a dying worker and drains them all on SIGTERM.
import { readFile, readdir, readlink } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { call, startUpstream, type Upstream } from './helpers/net.js';
import { cli, configDir, eventually, meshService, startProxy, type ProxyProcess } from './helpers/processes.js';
import { parseSample } from './helpers/metrics-text.js';

const TRACE_ALL = `---
apiVersion: meshlight.dev/v1alpha1
kind: Telemetry
metadata: {name: all}
spec: {tracing: {samplingPercentage: 100}, accessLog: {enabled: false}}
`;

async function workerPids(primary: number): Promise<number[]> {
  const text = await readFile(`/proc/${primary}/task/${primary}/children`, 'utf8');
  return text.trim().split(/\s+/).filter(Boolean).map(Number);
}

/** Inodes of the established TCP sockets whose local port is `port` (the accepted side). */
async function acceptedSockets(port: number): Promise<Set<string>> {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  const lines = (await readFile('/proc/net/tcp', 'utf8')).split('\n').slice(1);
  const inodes = new Set<string>();
  for (const l of lines) {
    const f = l.trim().split(/\s+/);
    if (f[1]?.endsWith(`:${hex}`) && f[3] === '01') inodes.add(f[9]!);
  }
  return inodes;
}

/** How many of `inodes` process `pid` holds open. */
async function socketsHeld(pid: number, inodes: Set<string>): Promise<number> {
  let n = 0;
  for (const fd of await readdir(`/proc/${pid}/fd`)) {
    const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
    const m = /^socket:\[(\d+)\]$/.exec(target);
    if (m !== null && inodes.has(m[1]!)) n++;
  }
  return n;
}

/** A keep-alive connection that got its answer and stays open. */
async function keptConnection(port: number): Promise<Socket> {
  const s = connect(port, '127.0.0.1');
  let got = '';
  s.setEncoding('latin1').on('data', (d: string) => (got += d));
  s.write('GET / HTTP/1.1\r\nHost: app\r\n\r\n');
  await eventually(() => got.includes('\r\n\r\n'), 3_000, 'an answer on a kept connection');
  return s;
}

/** The sum of every `name` sample whose labels include `labels` exactly. */
const total = (text: string, name: string, labels: Readonly<Record<string, string>>): number =>
  text
    .split('\n')
    .map(parseSample)
    .filter((x) => x !== undefined && x.name === name && Object.entries(labels).every(([k, v]) => x.labels.get(k) === v))
    .reduce((sum, x) => sum + x!.value, 0);

/** 120 requests, each on its own connection, 30 at a time; every one is counted once in the merged /metrics. */
async function expectEveryRequestCountedOnce(proxy: ProxyProcess): Promise<void> {
  const before = await (await fetch(`http://127.0.0.1:${proxy.admin}/metrics`)).text();
  const was = total(before, 'mesh_requests_total', { reporter: 'source' });
  for (let round = 0; round < 4; round++) {
    const replies = await Promise.all(Array.from({ length: 30 }, () => call(proxy.outbound, 'app')));
    expect(replies.every((r) => r.status === 200)).toBe(true);
  }
  const text = await (await fetch(`http://127.0.0.1:${proxy.admin}/metrics`)).text();
  expect(total(text, 'mesh_requests_total', { reporter: 'source' }) - was).toBe(120);
  expect(total(text, 'mesh_request_duration_seconds_count', { reporter: 'source' }) - was).toBe(120);
}

/** A `--concurrency 2` sidecar in front of one app for the tests of a describe block, stopped after them. */
function twoWorkers(env?: NodeJS.ProcessEnv): { readonly proxy: ProxyProcess } {
  let app: Upstream | undefined;
  const fixture = { proxy: undefined as unknown as ProxyProcess };
  beforeAll(async () => {
    app = await startUpstream('app');
    fixture.proxy = await startProxy({ files: { 'mesh.yaml': meshService('app', [app.port]) + TRACE_ALL }, args: ['--concurrency', '2'], env });
  });
  afterAll(async () => {
    await fixture.proxy?.stop('SIGKILL');
    await app?.close();
  });
  return fixture;
}

describe('--concurrency 2: two workers behind one admin port', () => {
  // Round robin makes the primary hand connections to the workers in turn, so both surely get some.
  const w = twoWorkers({ NODE_CLUSTER_SCHED_POLICY: 'rr' });
  let proxy: ProxyProcess;
  beforeAll(() => {
    proxy = w.proxy;
  });

  it('serves connections in both workers', async () => {
    const pids = await workerPids(proxy.proc.pid!);
    expect(pids).toHaveLength(2);
    const sockets = await Promise.all(Array.from({ length: 8 }, () => keptConnection(proxy.outbound)));
    try {
      const inodes = await acceptedSockets(proxy.outbound);
      const held = await Promise.all(pids.map((pid) => socketsHeld(pid, inodes)));
      expect(held[0]! + held[1]!).toBe(8);
      expect(held[0]).toBeGreaterThan(0);
      expect(held[1]).toBeGreaterThan(0);
    } finally {
      for (const s of sockets) s.destroy();
    }
  });

  it('counts every request of every worker once in the one /metrics, with exemplars in OpenMetrics', async () => {
    await expectEveryRequestCountedOnce(proxy);
    const text = await (await fetch(`http://127.0.0.1:${proxy.admin}/metrics`)).text();
    // Once per family and sample, not once per worker.
    expect(text.match(/^# TYPE mesh_requests_total counter$/gm)).toHaveLength(1);
    expect(text.match(/^process_start_time_seconds /gm)).toHaveLength(1);
    expect(text.match(/^nodejs_version_info\{/gm)).toHaveLength(1);

    const res = await fetch(`http://127.0.0.1:${proxy.admin}/metrics`, { headers: { accept: 'application/openmetrics-text; version=1.0.0' } });
    expect(res.headers.get('content-type')).toMatch(/^application\/openmetrics-text/);
    const om = await res.text();
    expect(om.endsWith('# EOF\n')).toBe(true);
    expect(om.match(/# EOF/g)).toHaveLength(1);
    expect(om).toMatch(/^mesh_request_duration_seconds_bucket\{reporter="source".* # \{trace_id="[0-9a-f]{32}"\} /m);
  });

  it('is ready when every worker is, and answers the other admin paths from a worker', async () => {
    const ready = await fetch(`http://127.0.0.1:${proxy.admin}/healthz/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.text()).toBe('ready\n');
    const dump = (await (await fetch(`http://127.0.0.1:${proxy.admin}/config_dump`)).json()) as { services: { name: string }[] };
    expect(dump.services.map((s) => s.name)).toEqual(['app']);
  });

  it('restarts a worker that dies, with a log line, and keeps serving', async () => {
    const [victim, other] = await workerPids(proxy.proc.pid!);
    process.kill(victim!, 'SIGKILL');
    await eventually(() => proxy.output.stderr.includes(`(pid ${victim}) exited with signal SIGKILL; restarting it`), 5_000, 'the restart log line');
    await eventually(async () => (await fetch(`http://127.0.0.1:${proxy.admin}/healthz/ready`)).status === 200, 10_000, 'both workers ready again');
    const pids = await workerPids(proxy.proc.pid!);
    expect(pids).toHaveLength(2);
    expect(pids).toContain(other);
    expect(pids).not.toContain(victim);
    expect((await call(proxy.outbound, 'app')).status).toBe(200);
  });
});

describe('--concurrency 2 with the default scheduling: the kernel picks the worker', () => {
  // No NODE_CLUSTER_SCHED_POLICY: what a user runs (SCHED_NONE, every worker accepts on the shared socket).
  const w = twoWorkers();

  it('both workers accept connections, and every request is counted once', async () => {
    const { proxy } = w;
    const pids = await workerPids(proxy.proc.pid!);
    expect(pids).toHaveLength(2);
    // The kernel wakes whichever worker waits: connections held open in batches reach both before long.
    const sockets: Socket[] = [];
    try {
      let held: number[] = [0, 0];
      await eventually(async () => {
        sockets.push(...(await Promise.all(Array.from({ length: 16 }, () => keptConnection(proxy.outbound)))));
        const inodes = await acceptedSockets(proxy.outbound);
        held = await Promise.all(pids.map((pid) => socketsHeld(pid, inodes)));
        return held.every((n) => n > 0) || sockets.length >= 256;
      }, 20_000, 'connections in both workers');
      expect(held[0]! + held[1]!).toBe(sockets.length);
      expect(held.every((n) => n > 0), `held per worker: ${held.join(', ')}`).toBe(true);
    } finally {
      for (const s of sockets) s.destroy();
    }
    await expectEveryRequestCountedOnce(proxy);
  });
});

describe('--concurrency 2: SIGTERM', () => {
  let app: Upstream;
  let proxy: ProxyProcess | undefined;

  afterEach(async () => {
    await proxy?.stop('SIGKILL');
    await app?.close();
  });

  it('drains every worker: requests in flight finish, then all processes exit 0', async () => {
    app = await startUpstream('slow', (req, res) => {
      req.resume();
      setTimeout(() => res.end('slow'), 600);
    });
    proxy = await startProxy({ files: { 'mesh.yaml': meshService('slow', [app.port]) }, args: ['--concurrency', '2', '--drain-timeout', '5s'], env: { NODE_CLUSTER_SCHED_POLICY: 'rr' } });
    const p = proxy;
    const pids = await workerPids(p.proc.pid!);
    const inFlight = Array.from({ length: 6 }, () => call(p.outbound, 'slow'));
    await eventually(() => app.seen.length === 6, 3_000, 'the upstream to get all 6 requests');
    p.proc.kill('SIGTERM');
    const replies = await Promise.all(inFlight);
    expect(replies.map((r) => `${r.status} ${r.body}`)).toEqual(Array(6).fill('200 slow'));
    expect(await p.exited).toBe(0);
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
    expect(p.output.stderr).toContain('SIGTERM: draining 2 workers');
    expect(p.output.stderr.match(/worker \d: stopped/g), p.output.stderr).toHaveLength(2);
  });
});

describe('--concurrency: bad values', () => {
  it.each(['0', 'x', '-1', '1.5', ''])('exits 2 with a one-line reason for %j', async (v) => {
    const dir = await configDir({ 'mesh.yaml': meshService('a', [1]) });
    const r = await cli(['proxy', '--config', dir, '--concurrency', v]);
    expect(r.stderr).toMatch(/^meshlight proxy: .*--concurrency.*\n$/);
    expect(r.code).toBe(2);
  });

  it('exits 1 when a worker cannot start (invalid config), naming the problem', async () => {
    const dir = await configDir({ 'mesh.yaml': 'kind: Nope\n' });
    const r = await cli(['proxy', '--config', dir, '--concurrency', '2', '--outbound-port', '0', '--admin-port', '0']);
    expect(r.stderr).toContain('unknown kind "Nope"');
    expect(r.stderr).toMatch(/worker \d \(pid \d+\) exited with code 1 before its listeners were up; stopping/);
    expect(r.code).toBe(1);
  });
});
