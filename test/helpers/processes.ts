// Start the built `meshlight` CLI as a real child process and talk to it over loopback.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from './net.js';

export const CLI = resolve(import.meta.dirname, '../../dist/src/cli/main.js');

export interface Running {
  readonly proc: ChildProcess;
  /** Everything written so far; grows while the process runs. */
  readonly output: { stdout: string; stderr: string };
  /** Resolves with the exit code (or signal name) once the process ends. */
  readonly exited: Promise<number | string>;
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

/** Runs the built CLI (or another built entry point, e.g. the bench) as a child process. */
export function runCli(args: readonly string[], env: NodeJS.ProcessEnv = {}, script = CLI): Running {
  const proc = spawn(process.execPath, [script, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, so that a test that dies takes the CLI's children (the demo's sidecars and
    // control plane) with it instead of leaving them on the ports the next test wants.
    detached: true,
  });
  const output = { stdout: '', stderr: '' };
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (output.stdout += d));
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (output.stderr += d));
  const exited = new Promise<number | string>((res) => proc.on('exit', (code, sig) => res(code ?? sig ?? -1)));
  running.add(proc);
  void exited.then(() => running.delete(proc));
  return {
    proc,
    output,
    exited,
    stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
}

/** Runs the CLI to completion: exit code and output. */
export async function cli(args: readonly string[]): Promise<{ code: number | string; stdout: string; stderr: string }> {
  const r = runCli(args);
  const code = await r.exited;
  return { code, ...r.output };
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of running) {
    try {
      process.kill(-p.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

/**
 * Replaces a watched config file the way editors and Kubernetes ConfigMaps do, by rename: a watcher
 * never sees it half written (an in-place write is truncate-then-write, two events).
 */
export async function replaceFile(path: string, text: string): Promise<void> {
  await writeFile(`${path}.tmp~`, text);
  await rename(`${path}.tmp~`, path);
}

/** Writes `{name: yamlText}` into a fresh temp directory and returns its path. */
export async function configDir(files: Readonly<Record<string, string>>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'meshlight-test-'));
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  return dir;
}

export interface ProxyProcess extends Running {
  readonly configDir: string;
  readonly outbound: number;
  readonly inbound: number;
  readonly admin: number;
}

export interface ProxyOptions {
  /** YAML files to write into the config directory. */
  readonly files: Readonly<Record<string, string>>;
  readonly service?: string;
  readonly appPort?: number;
  /** Extra flags, e.g. ['--drain-timeout', '2s']. */
  readonly args?: readonly string[];
  /** A config file or directory laid out by the test, used instead of the one `files` are written to. */
  readonly config?: string;
  /** The control plane's gRPC `host:port`: config comes from it (and `files`/`config` are not passed). */
  readonly controlPlane?: string;
  /** Extra environment variables for the proxy process. */
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * A port freePort() found free may be taken by another test before the process binds it: that attempt
 * exits naming the port, and is made again on new ports.
 */
const PORT_ATTEMPTS = 5;
const portTaken = (r: Running): boolean => r.output.stderr.includes('address already in use') || r.output.stderr.includes('EADDRINUSE');

/** Starts `meshlight proxy` on free loopback ports and waits until /healthz/ready answers 200. */
export async function startProxy(opts: ProxyOptions): Promise<ProxyProcess> {
  const dir = await configDir(opts.files);
  for (let attempt = 1; ; attempt++) {
    try {
      return await startProxyOnce(opts, dir);
    } catch (err) {
      if (!(err instanceof PortTakenError) || attempt === PORT_ATTEMPTS) throw err;
    }
  }
}

class PortTakenError extends Error {}

async function startProxyOnce(opts: ProxyOptions, dir: string): Promise<ProxyProcess> {
  const [outbound, inbound, admin] = [await freePort(), await freePort(), await freePort()];
  const source = opts.controlPlane !== undefined ? ['--control-plane', opts.controlPlane] : ['--config', opts.config ?? dir];
  const args = [
    'proxy', ...source, '--bind-address', '127.0.0.1',
    '--outbound-port', String(outbound), '--inbound-port', String(inbound), '--admin-port', String(admin),
    ...(opts.service !== undefined ? ['--service', opts.service] : []),
    ...(opts.appPort !== undefined ? ['--app-port', String(opts.appPort)] : []),
    ...(opts.args ?? []),
  ];
  const r = runCli(args, opts.env);
  try {
    await waitReady(admin, r);
  } catch (err) {
    await r.stop('SIGKILL');
    throw portTaken(r) ? new PortTakenError((err as Error).message) : err;
  }
  return { ...r, configDir: dir, outbound, inbound, admin };
}

export async function waitReady(adminPort: number, r: Running, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (r.proc.exitCode !== null) throw new Error(`proxy exited (${r.proc.exitCode}) before ready:\n${r.output.stderr}`);
    try {
      const res = await fetch(`http://127.0.0.1:${adminPort}/healthz/ready`);
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`proxy not ready after ${timeoutMs} ms:\n${r.output.stderr}`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

/** Polls `check` until it returns true or the time runs out. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 5_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

/** `kind: MeshService` YAML for a service whose endpoints are the given loopback ports. */
export function meshService(name: string, ports: readonly number[], extra: { namespace?: string; port?: number } = {}): string {
  const eps = ports.map((p) => `    - address: 127.0.0.1:${p}`).join('\n');
  return `apiVersion: meshlight.dev/v1alpha1
kind: MeshService
metadata:
  name: ${name}
  namespace: ${extra.namespace ?? 'default'}
spec:
  port: ${extra.port ?? 80}
  protocol: http
  endpoints:
${eps.length > 0 ? eps : '    []'}
`;
}

/** A Gateway API `HTTPRoute` named `name` for the calls to `service`; `rules`: its rules, as indented YAML list items. */
export function httpRoute(name: string, service: string, rules: string): string {
  return `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: ${name}
spec:
  parentRefs: [{kind: Service, name: ${service}}]
  rules:
${rules}`;
}

export interface ControlPlaneProcess extends Running {
  readonly configDir: string;
  readonly grpc: number;
  readonly http: number;
  /** `127.0.0.1:<grpc>`, what sidecars take as --control-plane. */
  readonly address: string;
}

/** Starts `meshlight control-plane` on free loopback ports (or the given ones) and waits for its HTTP API. */
export async function startControlPlane(opts: {
  readonly files?: Readonly<Record<string, string>>;
  readonly configDir?: string;
  readonly ports?: { readonly grpc: number; readonly http: number };
  readonly args?: readonly string[];
}): Promise<ControlPlaneProcess> {
  const dir = opts.configDir ?? (await configDir(opts.files ?? {}));
  for (let attempt = 1; ; attempt++) {
    try {
      return await startControlPlaneOnce(opts, dir);
    } catch (err) {
      if (!(err instanceof PortTakenError) || opts.ports !== undefined || attempt === PORT_ATTEMPTS) throw err;
    }
  }
}

async function startControlPlaneOnce(opts: { readonly ports?: { readonly grpc: number; readonly http: number }; readonly args?: readonly string[] }, dir: string): Promise<ControlPlaneProcess> {
  const grpc = opts.ports?.grpc ?? (await freePort());
  const http = opts.ports?.http ?? (await freePort());
  const r = runCli(['control-plane', '--config', dir, '--bind-address', '127.0.0.1', '--grpc-port', String(grpc), '--http-port', String(http), ...(opts.args ?? [])]);
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (r.proc.exitCode !== null) {
      const message = `control plane exited (${r.proc.exitCode}):\n${r.output.stderr}`;
      throw portTaken(r) ? new PortTakenError(message) : new Error(message);
    }
    try {
      const res = await fetch(`http://127.0.0.1:${http}/api/v1/config`);
      await res.arrayBuffer();
      if (res.status === 200 && r.output.stderr.includes('listening: gRPC')) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await r.stop('SIGKILL');
      throw new Error(`control plane not up after 10 s:\n${r.output.stderr}`);
    }
    await new Promise((res) => setTimeout(res, 50));
  }
  return { ...r, configDir: dir, grpc, http, address: `127.0.0.1:${grpc}` };
}
