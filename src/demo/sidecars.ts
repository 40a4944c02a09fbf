// The demo's real `meshlight` processes: the control plane, and a sidecar beside every app, as in a pod.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DemoInstance, DemoPorts } from './topology.js';

const CLI = resolve(import.meta.dirname, '../cli/main.js');
export const DEMO_CONFIG = resolve(import.meta.dirname, '../../../config/demo');

/** A `meshlight` child process of the demo. */
export interface MeshProcess {
  readonly label: string;
  readonly proc: ChildProcess;
  /** The last lines it wrote on stderr, for a useful message if it dies. */
  readonly stderrTail: string[];
  /** Resolves with the exit code (or signal) once it has ended. */
  readonly exited: Promise<number | string>;
}

export interface Sidecar extends MeshProcess {
  readonly app: DemoInstance;
}

function spawnCli(label: string, args: readonly string[]): MeshProcess {
  // Diagnostics come through stderr; a sidecar's access log goes to a file. The IPC channel is the
  // child's tie to the demo: when the demo dies, even by SIGKILL, it closes and the child stops (cli/main.ts).
  const proc = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  proc.channel?.unref();
  const stderrTail: string[] = [];
  proc.stderr!.setEncoding('utf8').on('data', (text: string) => {
    for (const line of text.split('\n')) {
      if (line === '') continue;
      stderrTail.push(line);
      if (stderrTail.length > 20) stderrTail.shift();
      process.stderr.write(`[${label}] ${line}\n`);
    }
  });
  const exited = new Promise<number | string>((res) => proc.once('exit', (code, signal) => res(code ?? signal ?? -1)));
  return { label, proc, stderrTail, exited };
}

/**
 * A token per sidecar, as the demo's sidecars prove their service with: `<dir>/<instance>.token` each,
 * and `<dir>/tokens`, the control plane's list of them. Returns the list's path.
 */
export async function writeTokens(dir: string, apps: readonly DemoInstance[]): Promise<string> {
  const lines: string[] = [];
  for (const app of apps) {
    const token = randomBytes(24).toString('base64url');
    await writeFile(tokenPath(dir, app), `${token}\n`, { mode: 0o600 });
    lines.push(`${app.service}.default ${token}`);
  }
  const list = resolve(dir, 'tokens');
  await writeFile(list, `# SERVICE.NAMESPACE TOKEN, one line per demo sidecar\n${lines.join('\n')}\n`, { mode: 0o600 });
  return list;
}

function tokenPath(dir: string, app: DemoInstance): string {
  return resolve(dir, `${app.instance}.token`);
}

/** The control plane, watching `configDir` and pushing it to every sidecar that proves its service with a token of `tokenFile`. */
export function startControlPlane(ports: DemoPorts, configDir: string, tokenFile: string, logLevel: string): MeshProcess {
  return spawnCli('control plane', [
    'control-plane', '--config', configDir, '--bind-address', '127.0.0.1', '--grpc-port', String(ports.controlPlane.grpc),
    '--http-port', String(ports.controlPlane.http), '--report-interval', '2s', '--token-file', tokenFile, '--log-level', logLevel,
  ]);
}

/**
 * Each sidecar gets its config from the control plane, with its token from `dir` (see writeTokens); its
 * JSON access log goes to `<dir>/<instance>.log`.
 */
export function startSidecar(ports: DemoPorts, app: DemoInstance, logLevel: string, logDir: string): Sidecar {
  const args = [
    'proxy', '--control-plane', `127.0.0.1:${ports.controlPlane.grpc}`, '--token-file', tokenPath(logDir, app), '--service', app.service, '--app-port', String(app.appPort),
    '--inbound-port', String(app.inbound), '--outbound-port', String(app.outbound), '--admin-port', String(app.admin),
    '--bind-address', '127.0.0.1', '--log-level', logLevel, '--access-log', accessLogPath(logDir, app),
  ];
  return { ...spawnCli(`${app.instance} sidecar`, args), app };
}

export function accessLogPath(logDir: string, app: DemoInstance): string {
  return resolve(logDir, `${app.instance}.log`);
}

/** How long a child may take to come up: a slow or busy machine starts six node processes at once. */
const START_TIMEOUT_MS = 30_000;

/** Resolves once `url` answers 200; rejects as soon as the process exits, or after START_TIMEOUT_MS. */
export async function waitUp(p: MeshProcess, url: string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  const died = p.exited.then((code) => {
    throw new Error(`the ${p.label} exited (${code}):\n  ${p.stderrTail.join('\n  ')}`);
  });
  died.catch(() => undefined);
  while (Date.now() < deadline) {
    // A port held by something that accepts and never answers must not hang the demo: each try is bounded.
    const answered = fetch(url, { signal: AbortSignal.timeout(1_000) }).then(async (res) => {
      await res.arrayBuffer();
      return res.status === 200;
    }, () => false);
    if (await Promise.race([answered, died])) return;
    await Promise.race([sleep(50), died]);
  }
  throw new Error(`the ${p.label} was not up within ${START_TIMEOUT_MS / 1000} s`);
}

export function waitReady(s: Sidecar): Promise<void> {
  return waitUp(s, `http://127.0.0.1:${s.app.admin}/healthz/ready`);
}

/** SIGTERM (a graceful drain), then waits for the exit. */
export async function stopProcess(s: MeshProcess): Promise<void> {
  if (s.proc.exitCode !== null || s.proc.signalCode !== null) return;
  s.proc.kill('SIGTERM');
  const killer = setTimeout(() => s.proc.kill('SIGKILL'), 8_000);
  await s.exited;
  clearTimeout(killer);
}
