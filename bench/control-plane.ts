// `npm run bench -- control-plane`: one real `meshlight control-plane` (core 0) and N simulated sidecars
// in this process (core 1), each with its own HTTP/2 connection and config stream, ACKing every response
// as src/mesh-client/client.ts does. Measures connect time, the convergence of one route change that
// reaches all N, and the control plane's memory and CPU. Prints a table and writes
// bench/results/control-plane.json. See bench/README.md, "Control plane at scale".
import { execFileSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { meshControl, type ConfigRequest, type ConfigResponse, type MeshControlClient, type Node, type TapBatch, type TapCommand } from '../control-plane/proto/index.js';
import { quantile } from '../control-plane/src/graph/histogram.js';
import { DURATION_BUCKETS } from '../src/telemetry/mesh-metrics.js';
import { helpText, parseFlags, positiveIntFlag, UsageError } from '../src/cli/args.js';
import { nearestRank } from './load.js';
import { cpuMs, rssMb } from './proc.js';
import { freePort, have, LOAD_CORE, PROXY_CORE, start, stop } from './targets.js';

const FLAGS = {
  sidecars: { type: 'string', help: 'simulated sidecars (default 2000; --quick 500; --smoke 20)' },
  quick: { type: 'boolean', help: '500 sidecars' },
  smoke: { type: 'boolean', help: 'CI: 20 sidecars; checks the bench works, measures nothing' },
  services: { type: 'string', help: 'services in the generated mesh, each with an HTTPRoute (the first 10 also with v1/v2 subsets)', default: '50' },
  'cpu-prof': { type: 'string', help: 'run the control plane with node --cpu-prof, profiles into this directory' },
  out: { type: 'string', help: 'where the JSON goes', default: 'bench/results/control-plane.json' },
} as const;

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
/** Every simulated sidecar calls this service, so a change to its route reaches all of them. */
const HOT = 'svc-00';
const HOT_ROUTE_FILE = `route-${HOT}.yaml`;
/** Services with a v1/v2 canary split (the rest route to themselves with a timeout). */
const CANARIES = 10;
const WAIT_MS = 60_000;
/** Each sidecar sends one telemetry report within this period, as with --report-interval 5s (the default). */
const REPORT_PERIOD_MS = 5_000;

// ---- the mesh -------------------------------------------------------------------------------------

const svc = (i: number): string => `svc-${String(i).padStart(2, '0')}`;

function meshService(name: string, firstPort: number, version: string): string {
  const endpoints = [0, 1, 2].map((k) => `    - {address: 10.0.${Math.floor(firstPort / 250) % 250}.${(firstPort % 250) + k}:8080, labels: {version: ${version}}}`);
  return `apiVersion: meshlight.dev/v1alpha1\nkind: MeshService\nmetadata: {name: ${name}}\nspec:\n  endpoints:\n${endpoints.join('\n')}\n`;
}

/** An HTTPRoute for the service `name`, its `rules` as YAML lines indented under `rules:`. */
function route(name: string, rules: string): string {
  return `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: ${name}}
spec:
  parentRefs: [{kind: Service, name: ${name}, port: 80}]
  rules:
${rules}`;
}

function canaryRoute(name: string, v1: number, v2: number): string {
  return route(name, `    - name: beta
      matches: [{headers: [{name: x-beta, value: "true"}]}]
      backendRefs: [{name: ${name}-v2, port: 80}]
    - name: canary
      backendRefs:
        - {name: ${name}-v1, port: 80, weight: ${v1}}
        - {name: ${name}-v2, port: 80, weight: ${v2}}
      timeouts: {request: 2s}
`);
}

function plainRoute(name: string): string {
  return route(name, `    - name: api
      matches: [{path: {type: PathPrefix, value: /api}}]
      backendRefs: [{name: ${name}, port: 80}]
      timeouts: {request: 3s, backendRequest: 1s}
    - name: rest
      backendRefs: [{name: ${name}, port: 80}]
`);
}

/** `services` MeshServices with an HTTPRoute each; the first CANARIES have v1/v2 subsets split 90/10. */
function writeMesh(dir: string, services: number): { meshServices: number; httpRoutes: number } {
  const docs: string[] = [];
  const routes: string[] = [];
  for (let i = 0; i < services; i++) {
    docs.push(meshService(svc(i), i * 8, 'v1'));
    if (i < CANARIES) {
      docs.push(meshService(`${svc(i)}-v1`, i * 8, 'v1'), meshService(`${svc(i)}-v2`, i * 8 + 4, 'v2'));
      if (i > 0) routes.push(canaryRoute(svc(i), 90, 10));
    } else {
      routes.push(plainRoute(svc(i)));
    }
  }
  writeFileSync(join(dir, 'services.yaml'), docs.join('---\n'));
  writeFileSync(join(dir, 'routes.yaml'), routes.join('---\n'));
  writeFileSync(join(dir, HOT_ROUTE_FILE), canaryRoute(HOT, 90, 10));
  writeFileSync(join(dir, 'telemetry.yaml'), 'apiVersion: meshlight.dev/v1alpha1\nkind: Telemetry\nmetadata: {name: mesh-default}\nspec:\n  tracing: {samplingPercentage: 1}\n  accessLog: {enabled: true}\n');
  return { meshServices: services + 2 * Math.min(services, CANARIES), httpRoutes: services };
}

// ---- the simulated sidecars ------------------------------------------------------------------------

/** One pod's sidecar: its own channel (so its own HTTP/2 connection), one config stream, ACKs as the real client. */
class SimSidecar {
  private readonly client: MeshControlClient;
  private call: grpc.ClientDuplexStream<ConfigRequest, ConfigResponse> | undefined;
  /** The idle tap channel every real sidecar keeps open beside its config stream. */
  private tap: grpc.ClientDuplexStream<TapBatch, TapCommand> | undefined;
  private readonly node: Node;
  version = '';
  openedAt = 0;
  /** performance.now() of the first response, and of the first response with a version other than `watch`. */
  firstAt = 0;
  changedAt = 0;
  private watch: string | undefined;
  error: string | undefined;

  constructor(address: string, readonly index: number, services: number, private readonly names: readonly string[]) {
    this.node = { id: `sim-${index}/10.1.${Math.floor(index / 250)}.${index % 250}:15006`, service: svc(index % services), namespace: 'default', address: '' };
    this.client = new (meshControl().Client)(address, grpc.credentials.createInsecure(), {
      'grpc.keepalive_time_ms': 30_000,
      'grpc.keepalive_timeout_ms': 10_000,
      // Without these, grpc-js shares one subchannel (one connection) among equal channels; a pod has its own.
      'grpc.use_local_subchannel_pool': 1,
      'meshlight.bench.sidecar': index,
    });
  }

  open(): void {
    this.openedAt = performance.now();
    const call = this.client.StreamConfig();
    this.call = call;
    call.on('data', (res: ConfigResponse) => this.onResponse(res));
    call.on('error', (err: grpc.ServiceError) => {
      if (err.code !== grpc.status.CANCELLED) this.error = err.details || err.message;
    });
    this.send('', '');
    this.tap = this.client.TapChannel();
    this.tap.on('error', () => undefined); // cancelled on close; a tap is never started here
    this.tap.write({ node: this.node, tap_id: '', events: [], dropped: 0 });
  }

  private onResponse(res: ConfigResponse): void {
    const now = performance.now();
    if (this.firstAt === 0) this.firstAt = now;
    if (this.watch !== undefined && this.changedAt === 0 && res.version_info !== this.watch) this.changedAt = now;
    this.version = res.version_info;
    this.send(res.version_info, res.nonce);
  }

  private send(version: string, nonce: string): void {
    this.call?.write({ node: this.node, resource_names: [...this.names], version_info: version, response_nonce: nonce, error_detail: null });
  }

  /** One telemetry report: an edge per service it calls, 50 calls each, 1 of them an error. */
  report(): Promise<void> {
    const counts = DURATION_BUCKETS.map((_, i) => (i === 2 ? 30 : i === 3 ? 15 : i === 4 ? 5 : 0));
    const edges = this.names.map((destination) => ({
      source: `${this.node.service}.default`, destination, protocol: 'http', requests: 50, errors: 1, denied: 0,
      bucket_counts: [...counts, 0], duration_sum_seconds: 0.2,
    }));
    const report = { node: this.node, timestamp_ms: Date.now(), period_ms: REPORT_PERIOD_MS, bucket_bounds: DURATION_BUCKETS, edges };
    return new Promise((resolve, reject) => {
      this.client.Report(report, new grpc.Metadata(), { deadline: Date.now() + WAIT_MS }, (err) => (err === null ? resolve() : reject(new Error(`report of sidecar ${this.index}: ${err.details}`))));
    });
  }

  /** From now on, record when a version other than the current one arrives. */
  watchForChange(): void {
    this.watch = this.version;
    this.changedAt = 0;
  }

  close(): void {
    this.call?.cancel();
    this.tap?.cancel();
    this.client.close();
  }
}

/** The hot service and two others, spread over the mesh (never the sidecar's own). */
function subscription(index: number, services: number): string[] {
  const self = index % services;
  const others: number[] = [];
  for (let k = 1; others.length < 2 && k < services; k++) {
    const j = (self * 7 + k * 13 + index) % services;
    if (j !== self && j !== 0 && !others.includes(j)) others.push(j);
  }
  return [HOT, ...others.map(svc)].map((s) => `${s}.default`);
}

// ---- the control plane's side ----------------------------------------------------------------------

async function getText(url: string): Promise<string> {
  const res = await fetch(url);
  if (res.status !== 200) throw new Error(`GET ${url}: ${res.status}`);
  return res.text();
}

interface SidecarRow {
  id: string;
  version: string;
  synced: boolean;
}

/** The ACK count and the push-to-ACK histogram's non-cumulative buckets, from /metrics. */
async function scrape(base: string): Promise<{ acks: number; bounds: number[]; counts: number[] }> {
  const text = await getText(`${base}/metrics`);
  const acks = Number(/^meshlight_cp_acks_total (\S+)$/m.exec(text)?.[1] ?? 0);
  const bounds: number[] = [];
  const cumulative: number[] = [];
  for (const m of text.matchAll(/^meshlight_cp_push_ack_seconds_bucket\{le="([^"]+)"\} (\S+)$/gm)) {
    if (m[1] !== '+Inf') bounds.push(Number(m[1]));
    cumulative.push(Number(m[2]));
  }
  return { acks, bounds, counts: cumulative.map((c, i) => c - (i === 0 ? 0 : cumulative[i - 1]!)) };
}

async function until<T>(what: string, check: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${WAIT_MS / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Resolves once every sidecar is listed by the control plane as synced on `version(id)`. */
async function allSynced(base: string, sims: readonly SimSidecar[], version: (s: SimSidecar) => string): Promise<SidecarRow[]> {
  return until('all sidecars synced in /api/v1/sidecars', async () => {
    const rows = JSON.parse(await getText(`${base}/api/v1/sidecars`)) as SidecarRow[];
    const byId = new Map(rows.map((r) => [r.id, r]));
    return sims.every((s) => {
      const r = byId.get(`sim-${s.index}/10.1.${Math.floor(s.index / 250)}.${s.index % 250}:15006`);
      return r !== undefined && r.synced && r.version === version(s);
    }) ? rows : undefined;
  });
}

interface Usage {
  rss_mb: number;
  cpu_ms: number;
}

const usage = (pid: number): Usage => ({ rss_mb: round(rssMb([pid]), 1), cpu_ms: Math.round(cpuMs([pid])) });
const round = (n: number, d: number): number => Number(n.toFixed(d));

function percentiles(samples: number[]): { p50_ms: number; p99_ms: number; max_ms: number } {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number): number => round(nearestRank(s, q), 1);
  return { p50_ms: at(0.5), p99_ms: at(0.99), max_ms: round(s[s.length - 1] ?? 0, 1) };
}

function startControlPlane(dir: string, grpcPort: number, httpPort: number, profileDir: string | undefined): ChildProcess {
  const nodeArgs = profileDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', profileDir];
  const args = [...nodeArgs, MAIN, 'control-plane', '--config', join(dir, 'config'), '--grpc-port', String(grpcPort),
    '--http-port', String(httpPort), '--bind-address', '127.0.0.1', '--report-interval', '60s'];
  const log = join(dir, 'control-plane.log');
  return have('taskset') ? start('control-plane', 'taskset', ['-c', PROXY_CORE, process.execPath, ...args], log) : start('control-plane', process.execPath, args, log);
}

// ---- the run ---------------------------------------------------------------------------------------

export async function runControlPlaneBench(argv: string[]): Promise<number> {
  const parsed = parseFlags(argv, FLAGS, false);
  if (parsed.help) {
    process.stdout.write(helpText('npm run bench -- control-plane [--sidecars N] [--quick] [--smoke]', FLAGS));
    return 0;
  }
  const mode = parsed.values['smoke'] === true ? 'smoke' : parsed.values['quick'] === true ? 'quick' : 'full';
  const n = positiveIntFlag(parsed, 'sidecars') ?? { smoke: 20, quick: 500, full: 2000 }[mode];
  const services = positiveIntFlag(parsed, 'services')!;
  if (services < 3) throw new UsageError('--services must be at least 3');
  const profileDir = typeof parsed.values['cpu-prof'] === 'string' ? parsed.values['cpu-prof'] : undefined;
  if (have('taskset')) execFileSync('taskset', ['-pc', LOAD_CORE, String(process.pid)], { stdio: 'ignore' });

  const dir = mkdtempSync(join(tmpdir(), 'meshlight-cpbench-'));
  mkdirSync(join(dir, 'config'));
  const mesh = writeMesh(join(dir, 'config'), services);
  const [grpcPort, httpPort] = [await freePort(), await freePort()];
  const base = `http://127.0.0.1:${httpPort}`;
  const cp = startControlPlane(dir, grpcPort, httpPort, profileDir);
  const pid = cp.pid!;
  const sims: SimSidecar[] = [];
  try {
    await until('the control plane', () => {
      if (cp.exitCode !== null) throw new Error(`control plane exited with ${cp.exitCode}; see ${dir}/control-plane.log (BENCH_KEEP=1 keeps it)`);
      return fetch(`${base}/`).then(() => true, () => undefined);
    });
    // taskset execs node: the child's pid is the control plane's.
    const cpPid = pid;
    const atStart = usage(cpPid);
    process.stderr.write(`bench: control plane up (pid ${cpPid}, ${mesh.meshServices} MeshServices, ${mesh.httpRoutes} HTTPRoutes); connecting ${n} sidecars\n`);

    const connectStart = performance.now();
    const connectCpuAt = process.cpuUsage();
    for (let i = 0; i < n; i++) {
      const sim = new SimSidecar(`127.0.0.1:${grpcPort}`, i, services, subscription(i, services));
      sims.push(sim);
      sim.open();
    }
    await until(`the first config on all ${n} streams`, () => (sims.every((s) => s.firstAt > 0) ? true : failed(sims)));
    const connectMs = Math.max(...sims.map((s) => s.firstAt)) - connectStart;
    const connectCpu = process.cpuUsage(connectCpuAt);
    await allSynced(base, sims, (s) => s.version);
    await new Promise((r) => setTimeout(r, 1000));
    const idleConnected = usage(cpPid);
    const before = await scrape(base);

    for (const s of sims) s.watchForChange();
    // The wall-clock time lines this up with the control plane's log (BENCH_KEEP=1 keeps it).
    process.stderr.write(`bench: connected in ${connectMs.toFixed(0)} ms; rewriting ${HOT_ROUTE_FILE} at ${new Date().toISOString()}\n`);
    const writeAt = performance.now();
    const benchCpuAt = process.cpuUsage();
    writeFileSync(join(dir, 'config', HOT_ROUTE_FILE), canaryRoute(HOT, 50, 50));
    await until(`the new version on all ${n} sidecars`, () => (sims.every((s) => s.changedAt > 0) ? true : failed(sims)));
    const benchCpu = process.cpuUsage(benchCpuAt);
    const changed = usage(cpPid);
    const rows = await allSynced(base, sims, (s) => s.version);
    const after = await scrape(base);
    await new Promise((r) => setTimeout(r, 1000));
    const idlePushed = usage(cpPid);

    // Telemetry: first the control plane's CPU with every stream open and nothing happening, then every
    // sidecar reports once, spread over REPORT_PERIOD_MS, then the graph is asked for.
    const beforeIdle = usage(cpPid);
    await new Promise((r) => setTimeout(r, REPORT_PERIOD_MS));
    const beforeReports = usage(cpPid);
    const reportsAt = performance.now();
    await Promise.all(sims.map((s, i) => new Promise((r) => setTimeout(r, (i * REPORT_PERIOD_MS) / n)).then(() => s.report())));
    const reportsMs = performance.now() - reportsAt;
    const afterReports = usage(cpPid);
    const graphAt = performance.now();
    const graph = JSON.parse(await getText(`${base}/api/v1/graph?window=60s`)) as { edges: { requests: number }[] };
    const graphMs = performance.now() - graphAt;
    const graphRequests = graph.edges.reduce((sum, e) => sum + e.requests, 0);
    if (graphRequests !== n * 3 * 50) throw new Error(`the graph counts ${graphRequests} requests, the reports carried ${n * 3 * 50}`);

    const push = percentiles(sims.map((s) => s.changedAt - writeAt));
    const firstChange = Math.min(...sims.map((s) => s.changedAt)) - writeAt;
    const delta = after.counts.map((c, i) => c - (before.counts[i] ?? 0));
    const result = {
      date: new Date().toISOString(),
      mode,
      machine: { cores: cpus().length, pinned: have('taskset') ? `control plane on core ${PROXY_CORE}, sidecars on core ${LOAD_CORE}` : 'not pinned (no taskset)' },
      sidecars: n,
      mesh: { ...mesh, resource_names_per_sidecar: 3 },
      connect: { total_ms: round(connectMs, 1), ...percentiles(sims.map((s) => s.firstAt - s.openedAt)), sidecars_cpu_ms: Math.round((connectCpu.user + connectCpu.system) / 1000) },
      push: { ...push, first_ms: round(firstChange, 1), spread_ms: round(push.max_ms - firstChange, 1), updated: sims.filter((s) => s.changedAt > 0).length,
        // The simulated sidecars share one core: when this is close to max_ms, the tail is theirs.
        sidecars_cpu_ms: Math.round((benchCpu.user + benchCpu.system) / 1000) },
      control_plane_view: {
        acks: after.acks - before.acks,
        push_ack_p50_ms: round(quantile(0.5, after.bounds, delta) * 1000, 1),
        push_ack_p99_ms: round(quantile(0.99, after.bounds, delta) * 1000, 1),
      },
      control_plane: { at_start: atStart, idle_after_connect: idleConnected, all_changed: changed, idle_after_push: idlePushed },
      reports: {
        count: n, edges: n * 3, ms: round(reportsMs, 1), cp_cpu_ms: afterReports.cpu_ms - beforeReports.cpu_ms,
        cp_idle_cpu_ms: beforeReports.cpu_ms - beforeIdle.cpu_ms,
        cp_rss_mb: afterReports.rss_mb, graph_edges: graph.edges.length, graph_ms: round(graphMs, 1),
      },
      listed: rows.length,
      synced: rows.filter((r) => r.synced).length,
    };
    process.stdout.write(table(result));
    const out = parsed.values['out'] as string;
    mkdirSync(join(out, '..'), { recursive: true });
    writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
    process.stderr.write(`bench: wrote ${out}\n`);
    return 0;
  } finally {
    for (const s of sims) s.close();
    await stop(cp);
    if (process.env['BENCH_KEEP'] === undefined) rmSync(dir, { recursive: true, force: true });
    else process.stderr.write(`bench: kept ${dir}\n`);
  }
}

/** Stops a wait early when a stream failed: nothing more will come on it. */
function failed(sims: readonly SimSidecar[]): undefined {
  const broken = sims.find((s) => s.error !== undefined);
  if (broken !== undefined) throw new Error(`sidecar ${broken.index}: ${broken.error}`);
  return undefined;
}

type Result = {
  sidecars: number;
  connect: { total_ms: number; p50_ms: number; p99_ms: number; max_ms: number };
  push: { p50_ms: number; p99_ms: number; max_ms: number; first_ms: number; sidecars_cpu_ms: number };
  control_plane_view: { acks: number; push_ack_p50_ms: number; push_ack_p99_ms: number };
  control_plane: Record<'at_start' | 'idle_after_connect' | 'all_changed' | 'idle_after_push', Usage>;
  reports: { count: number; edges: number; ms: number; cp_cpu_ms: number; cp_idle_cpu_ms: number; cp_rss_mb: number; graph_edges: number; graph_ms: number };
  listed: number;
  synced: number;
};

function table(r: Result): string {
  const cpu = r.control_plane;
  const ms = (n: number): string => n.toLocaleString('en-US', { maximumFractionDigits: 1 });
  return [
    '| sidecars | connect all ms | connect p50 / p99 ms | push p50 / p99 / max ms | first ms | bench CPU ms in push | CP ACKs | CP push-to-ACK p50 / p99 ms | CP RSS MB start / connected / pushed | CP CPU ms connect / push (write to last sidecar) | synced |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    `| ${r.sidecars} | ${ms(r.connect.total_ms)} | ${ms(r.connect.p50_ms)} / ${ms(r.connect.p99_ms)} | ${ms(r.push.p50_ms)} / ${ms(r.push.p99_ms)} / ${ms(r.push.max_ms)} | ${ms(r.push.first_ms)} | ${r.push.sidecars_cpu_ms} | ` +
      `${r.control_plane_view.acks} | ${ms(r.control_plane_view.push_ack_p50_ms)} / ${ms(r.control_plane_view.push_ack_p99_ms)} | ` +
      `${Math.round(cpu.at_start.rss_mb)} / ${Math.round(cpu.idle_after_connect.rss_mb)} / ${Math.round(cpu.idle_after_push.rss_mb)} | ` +
      `${cpu.idle_after_connect.cpu_ms - cpu.at_start.cpu_ms} / ${cpu.all_changed.cpu_ms - cpu.idle_after_connect.cpu_ms} | ${r.synced}/${r.listed} |`,
    '',
    '| reports (one per sidecar, 3 edges each) | over ms | CP CPU ms (idle 5 s before) | CP vCPU at one report per sidecar per 5 s | CP RSS MB | graph edges | GET /api/v1/graph ms |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    `| ${r.reports.count} | ${ms(r.reports.ms)} | ${r.reports.cp_cpu_ms} (${r.reports.cp_idle_cpu_ms}) | ${(r.reports.cp_cpu_ms / REPORT_PERIOD_MS).toFixed(3)} | ${Math.round(r.reports.cp_rss_mb)} | ${r.reports.graph_edges} | ${ms(r.reports.graph_ms)} |`,
    '',
  ].join('\n');
}
