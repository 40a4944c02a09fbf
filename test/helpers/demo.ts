// The demo on ports nothing else holds, so its tests pass beside a running `npm start`.
import { createServer } from 'node:net';
import { BASE_PORT_SPAN, DemoPorts } from '../../src/demo/topology.js';
import { eventually, runCli, type Running } from './processes.js';

export function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/**
 * A base port whose every demo port is free now, below Linux's ephemeral range (32768+) so that no
 * other test's port-0 socket takes one meanwhile; beside a running `npm start` on the default ports.
 */
export async function freeBase(): Promise<DemoPorts> {
  for (;;) {
    const ports = new DemoPorts(20_000 + Math.floor(Math.random() * (32_768 - 20_000 - BASE_PORT_SPAN)));
    const free = await Promise.all(ports.all().map((p) => portFree(p.port)));
    if (free.every(Boolean)) return ports;
  }
}

/** Starts the demo on free ports (again, if one was taken between the check and the start). */
export async function startDemo(args: readonly string[]): Promise<{ demo: Running; ports: DemoPorts }> {
  for (let attempt = 0; ; attempt++) {
    const ports = await freeBase();
    const demo = runCli(['demo', '--base-port', String(ports.base), ...args]);
    const up = await untilBanner(demo);
    if (up) return { demo, ports };
    if (attempt < 3 && demo.output.stderr.includes('in use')) continue;
    throw new Error(`the demo exited (${await demo.exited}) before its banner:\n${demo.output.stderr}`);
  }
}

/** True once the demo prints its traffic line, false if it exits first: the test then shows why. */
export async function untilBanner(demo: Running): Promise<boolean> {
  let exited = false;
  void demo.exited.then(() => (exited = true));
  await eventually(() => exited || demo.output.stdout.includes('generating '), 75_000, `the demo banner; stderr so far:\n${demo.output.stderr}`);
  return !exited;
}

