// What the bench measures, each started and stopped by the bench on loopback: the upstream, the OTLP sink,
// and the targets (direct, meshlight, meshlight-c2, meshlight-2hop, nginx, http-proxy, node-l4, haproxy, and
// the optional telemetry variants meshlight-metrics-only and meshlight-traced-all, and node-floor).
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync, openSync, closeSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { withDescendants } from './proc.js';

export const PROXY_CORE = '0';
export const LOAD_CORE = '1';
/** A 2-worker sidecar runs on both cores, sharing core 1 with the load generator and the upstream. */
export const BOTH_CORES = '0,1';

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const HERE = fileURLToPath(new URL('.', import.meta.url));

/** Where `tool` is: on PATH, or in the sbin directories that a user's PATH lacks (nginx, haproxy). */
export function toolPath(tool: string): string | undefined {
  try {
    return execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim();
  } catch {
    return ['/usr/sbin', '/sbin'].map((d) => join(d, tool)).find((p) => existsSync(p));
  }
}

export function have(tool: string): boolean {
  return toolPath(tool) !== undefined;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

const children = new Set<ChildProcess>();

export function start(name: string, cmd: string, args: string[], logFile: string): ChildProcess {
  const fd = openSync(logFile, 'a');
  const child = spawn(cmd, args, { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  children.add(child);
  child.on('exit', () => children.delete(child));
  child.on('error', (e) => process.stderr.write(`bench: ${name}: ${e.message}\n`));
  return child;
}

export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}

/** Kills whatever is still running (on error or Ctrl-C). */
export function killAll(): void {
  for (const c of children) c.kill('SIGKILL');
}

/** Polls until GET url answers 200 (or throws after 10 s, or when the process exits). */
async function ready(url: string, child: ChildProcess, headers: Record<string, string> = {}): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode} before answering ${url}`);
    const ok = await new Promise<boolean>((resolve) => {
      const req = http.get(url, { headers, agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      req.on('error', () => resolve(false));
      req.setTimeout(1000, () => req.destroy());
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no 200 from ${url} within 10 s`);
}

export interface Running {
  /** The port the load goes to. */
  port: number;
  /** The processes whose CPU and RSS are the target's cost (empty for direct). */
  pids: number[];
  stop(): Promise<void>;
}

export interface Env {
  dir: string;
  upstreamPort: number;
  sinkPort: number;
  /** Node flags for every meshlight sidecar (`--cpu-prof`). */
  nodeArgs: readonly string[];
}

const BODY = 'x'.repeat(100);

/** One nginx worker in the foreground with every file inside `wd`; `http` is the body of its http block. */
function nginxConf(wd: string, accessLog: string, http: string): string {
  return `worker_processes 1;
daemon off;
pid ${wd}/nginx.pid;
error_log ${wd}/error.log;
events { worker_connections 4096; }
http {
  access_log ${accessLog};
  client_body_temp_path ${wd}; proxy_temp_path ${wd}; fastcgi_temp_path ${wd}; uwsgi_temp_path ${wd}; scgi_temp_path ${wd};
${http}}
`;
}

/** nginx `return 200` (100 bytes; /16k a 16 KiB file), access log off, or the raw Node server without nginx. */
export async function startUpstream(dir: string, useNginx: boolean): Promise<Running> {
  const port = await freePort();
  const wd = join(dir, 'upstream');
  mkdirSync(join(wd, 'www'), { recursive: true });
  writeFileSync(join(wd, 'www', '16k'), 'x'.repeat(16384));
  let child: ChildProcess;
  if (useNginx) {
    writeFileSync(
      join(wd, 'nginx.conf'),
      nginxConf(wd, 'off', `  server {
    listen 127.0.0.1:${port} reuseport;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    root ${wd}/www;
    location = /16k { default_type application/octet-stream; }
    location / { default_type text/plain; return 200 "${BODY}"; }
  }
`),
    );
    child = start('upstream nginx', 'taskset', ['-c', LOAD_CORE, toolPath('nginx')!, '-p', wd, '-c', join(wd, 'nginx.conf')], join(wd, 'out.log'));
  } else {
    child = start('upstream', 'taskset', ['-c', LOAD_CORE, process.execPath, join(HERE, 'raw-upstream.js'), String(port)], join(wd, 'out.log'));
  }
  await ready(`http://127.0.0.1:${port}/`, child);
  return { port, pids: [], stop: () => stop(child) };
}

/** The OTLP/HTTP sink the sidecars export to: accepts POST /v1/traces, counts, answers 200 {}. */
export async function startSink(): Promise<{ port: number; received(): number; close(): Promise<void> }> {
  let received = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.method === 'POST' && req.url === '/v1/traces') received++;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    port,
    received: () => received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** What a sidecar's Telemetry says: production's default is 1% sampling with the access log on. */
interface TelemetrySetting {
  readonly samplingPercentage: number;
  readonly accessLog: boolean;
}

const PRODUCTION: TelemetrySetting = { samplingPercentage: 1, accessLog: true };

/** Config: MeshService `bench` -> endpoint, and the Telemetry (production's unless told). */
function meshConfig(dir: string, endpointPort: number, telemetry: TelemetrySetting): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'mesh.yaml'),
    `apiVersion: meshlight.dev/v1alpha1
kind: MeshService
metadata: {name: bench}
spec: {endpoints: [{address: "127.0.0.1:${endpointPort}"}]}
---
apiVersion: meshlight.dev/v1alpha1
kind: Telemetry
metadata: {name: bench}
spec: {tracing: {samplingPercentage: ${telemetry.samplingPercentage}}, accessLog: {enabled: ${telemetry.accessLog}}}
`,
  );
}

interface SidecarSetup {
  readonly extra: string[];
  readonly cores?: string;
  readonly telemetry?: TelemetrySetting;
}

async function sidecar(env: Env, name: string, endpointPort: number, setup: SidecarSetup): Promise<{ child: ChildProcess; outbound: number; inbound: number }> {
  const wd = join(env.dir, name);
  meshConfig(join(wd, 'config'), endpointPort, setup.telemetry ?? PRODUCTION);
  const [outbound, inbound, admin] = [await freePort(), await freePort(), await freePort()];
  const child = start(
    name,
    'taskset',
    [
      '-c', setup.cores ?? PROXY_CORE, process.execPath, ...env.nodeArgs, MAIN, 'proxy',
      '--config', join(wd, 'config'),
      '--outbound-port', String(outbound),
      '--inbound-port', String(inbound),
      '--admin-port', String(admin),
      '--bind-address', '127.0.0.1',
      '--access-log', join(wd, 'access.log'),
      '--otlp-endpoint', `http://127.0.0.1:${env.sinkPort}/v1/traces`,
      '--log-level', 'warn',
      ...setup.extra,
    ],
    join(wd, 'stderr.log'),
  );
  await ready(`http://127.0.0.1:${admin}/healthz/ready`, child);
  return { child, outbound, inbound };
}

export interface TargetDef {
  name: string;
  /** Why the row is skipped, or undefined when it runs. */
  skip?: string;
  /** Run only when named in --targets (and in --smoke, which starts every target). */
  optional?: boolean;
  start(env: Env): Promise<Running>;
}

/** One sidecar's outbound listener as the target. */
async function oneSidecar(env: Env, name: string, setup: SidecarSetup): Promise<Running> {
  const s = await sidecar(env, name, env.upstreamPort, { ...setup, extra: ['--service', 'bench-client', ...setup.extra] });
  await ready(`http://127.0.0.1:${s.outbound}/`, s.child, { host: 'bench' });
  return { port: s.outbound, pids: [s.child.pid!], stop: () => stop(s.child) };
}

/** A proxy that is one Node script of bench/ (`script LISTEN_PORT UPSTREAM_PORT`), pinned to the proxy core. */
async function nodeServer(env: Env, name: string, script: string): Promise<Running> {
  const wd = join(env.dir, name);
  mkdirSync(wd, { recursive: true });
  const port = await freePort();
  const child = start(name, 'taskset', ['-c', PROXY_CORE, process.execPath, join(HERE, script), String(port), String(env.upstreamPort)], join(wd, 'out.log'));
  await ready(`http://127.0.0.1:${port}/`, child);
  return { port, pids: [child.pid!], stop: () => stop(child) };
}

export function targets(nginxInstalled: boolean): TargetDef[] {
  const haproxyInstalled = have('haproxy');
  return [
    {
      name: 'direct',
      start: async (env) => ({ port: env.upstreamPort, pids: [], stop: async () => {} }),
    },
    { name: 'meshlight', start: (env) => oneSidecar(env, 'meshlight', { extra: [] }) },
    // --concurrency 2 on both cores (its CPU and RSS: the primary and both workers).
    { name: 'meshlight-c2', start: (env) => oneSidecar(env, 'meshlight-c2', { extra: ['--concurrency', '2'], cores: BOTH_CORES }) },
    {
      name: 'meshlight-2hop',
      start: async (env) => {
        // The callee's sidecar: inbound -> the upstream as its app. Then the caller's: outbound -> that inbound.
        const callee = await sidecar(env, 'callee', env.upstreamPort, { extra: ['--service', 'bench', '--app-port', String(env.upstreamPort)] });
        const caller = await sidecar(env, 'caller', callee.inbound, { extra: ['--service', 'bench-client'] });
        await ready(`http://127.0.0.1:${caller.outbound}/`, caller.child, { host: 'bench' });
        return {
          port: caller.outbound,
          pids: [caller.child.pid!, callee.child.pid!],
          stop: async () => {
            await stop(caller.child);
            await stop(callee.child);
          },
        };
      },
    },
    {
      name: 'nginx',
      ...(nginxInstalled ? {} : { skip: 'nginx is not installed: apt-get install -y nginx' }),
      start: async (env) => {
        const wd = join(env.dir, 'nginx-proxy');
        mkdirSync(wd, { recursive: true });
        const port = await freePort();
        writeFileSync(
          join(wd, 'nginx.conf'),
          nginxConf(wd, `${wd}/access.log`, `  upstream app { server 127.0.0.1:${env.upstreamPort}; keepalive 128; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:${port};
    keepalive_requests 1000000;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering on;
    }
  }
`),
        );
        const child = start('nginx', 'taskset', ['-c', PROXY_CORE, toolPath('nginx')!, '-p', wd, '-c', join(wd, 'nginx.conf')], join(wd, 'out.log'));
        await ready(`http://127.0.0.1:${port}/`, child);
        return { port, pids: withDescendants([child.pid!]), stop: () => stop(child) };
      },
    },
    { name: 'http-proxy', start: (env) => nodeServer(env, 'http-proxy', 'http-proxy-server.js') },
    // Node's own limit for moving bytes: net sockets piped both ways, no HTTP.
    { name: 'node-l4', start: (env) => nodeServer(env, 'node-l4', 'node-l4-server.js') },
    // The floor under meshlight: node:http + undici and nothing else (run when named, and by --smoke).
    { name: 'node-floor', optional: true, start: (env) => nodeServer(env, 'node-floor', 'node-floor-server.js') },
    {
      name: 'haproxy',
      ...(haproxyInstalled ? {} : { skip: 'haproxy is not installed: apt-get install -y haproxy' }),
      start: async (env) => {
        const wd = join(env.dir, 'haproxy');
        mkdirSync(wd, { recursive: true });
        const port = await freePort();
        writeFileSync(
          join(wd, 'haproxy.cfg'),
          `global
  nbthread 1
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  http-reuse always
frontend f
  bind 127.0.0.1:${port}
  default_backend b
backend b
  server u 127.0.0.1:${env.upstreamPort}
`,
        );
        const child = start('haproxy', 'taskset', ['-c', PROXY_CORE, toolPath('haproxy')!, '-db', '-f', join(wd, 'haproxy.cfg')], join(wd, 'out.log'));
        await ready(`http://127.0.0.1:${port}/`, child);
        return { port, pids: withDescendants([child.pid!]), stop: () => stop(child) };
      },
    },
    // Telemetry's cost beside `meshlight` (1% sampled, access log on): only the RED metrics, or every request traced.
    {
      name: 'meshlight-metrics-only',
      optional: true,
      start: (env) => oneSidecar(env, 'meshlight-metrics-only', { extra: [], telemetry: { samplingPercentage: 0, accessLog: false } }),
    },
    {
      name: 'meshlight-traced-all',
      optional: true,
      start: (env) => oneSidecar(env, 'meshlight-traced-all', { extra: [], telemetry: { samplingPercentage: 100, accessLog: true } }),
    },
  ];
}
