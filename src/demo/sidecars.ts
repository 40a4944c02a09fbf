// One real `meshlight proxy` process beside every demo app, as in a pod.
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DemoInstance } from './topology.js';

const CLI = resolve(import.meta.dirname, '../cli/main.js');
export const DEMO_CONFIG = resolve(import.meta.dirname, '../../../config/demo');

export interface Sidecar {
  readonly app: DemoInstance;
  readonly proc: ChildProcess;
  /** The last lines it wrote on stderr, for a useful message if it dies. */
  readonly stderrTail: string[];
}

/** Each sidecar's JSON access log goes to `<logDir>/<instance>.log`. */
export function startSidecar(app: DemoInstance, logLevel: string, logDir: string): Sidecar {
  const args = [
    CLI, 'proxy', '--config', DEMO_CONFIG, '--service', app.service, '--app-port', String(app.appPort),
    '--inbound-port', String(app.inbound), '--outbound-port', String(app.outbound), '--admin-port', String(app.admin),
    '--bind-address', '127.0.0.1', '--log-level', logLevel, '--access-log', accessLogPath(logDir, app),
  ];
  // The access log goes to a file; diagnostics come through stderr.
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const stderrTail: string[] = [];
  proc.stderr!.setEncoding('utf8').on('data', (text: string) => {
    for (const line of text.split('\n')) {
      if (line === '') continue;
      stderrTail.push(line);
      if (stderrTail.length > 20) stderrTail.shift();
      process.stderr.write(`[${app.instance} sidecar] ${line}\n`);
    }
  });
  return { app, proc, stderrTail };
}

export function accessLogPath(logDir: string, app: DemoInstance): string {
  return resolve(logDir, `${app.instance}.log`);
}

/** Resolves once /healthz/ready answers 200; rejects if the sidecar exits first or takes over 10 s. */
export async function waitReady(s: Sidecar): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (s.proc.exitCode !== null) {
      throw new Error(`the ${s.app.instance} sidecar exited (${s.proc.exitCode}):\n  ${s.stderrTail.join('\n  ')}`);
    }
    try {
      const res = await fetch(`http://127.0.0.1:${s.app.admin}/healthz/ready`);
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await sleep(50);
  }
  throw new Error(`the ${s.app.instance} sidecar was not ready within 10 s`);
}

/** SIGTERM (a graceful drain), then waits for the exit. */
export async function stopSidecar(s: Sidecar): Promise<void> {
  if (s.proc.exitCode !== null || s.proc.signalCode !== null) return;
  const exited = new Promise((res) => s.proc.once('exit', res));
  s.proc.kill('SIGTERM');
  const killer = setTimeout(() => s.proc.kill('SIGKILL'), 8_000);
  await exited;
  clearTimeout(killer);
}
