// `meshlight demo`: the apps, a sidecar beside each, generated traffic, and what to try meanwhile.
import { mkdtemp } from 'node:fs/promises';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startApp } from './apps.js';
import { accessLogPath, startControlPlane, startSidecar, stopProcess, waitReady, waitUp, writeTokens, type MeshProcess, type Sidecar } from './sidecars.js';
import { DEMO_CONTROL_PLANE, DEMO_INSTANCES } from './topology.js';
import { startTraffic, TrafficCounts } from './traffic.js';

export interface DemoOptions {
  /** Undefined: until SIGINT/SIGTERM. */
  readonly durationMs: number | undefined;
  readonly rps: number;
  readonly logLevel: string;
  /** The route YAML the control plane watches and pushes. */
  readonly configDir: string;
}

function banner(logDir: string, configDir: string): string {
  const at = (instance: string) => DEMO_INSTANCES.find((a) => a.instance === instance)!;
  const [frontend, orders] = [at('frontend'), at('orders-v1')];
  const rows = DEMO_INSTANCES.map((a) =>
    `  ${a.instance.padEnd(10)} app :${a.appPort}  sidecar inbound :${a.inbound}  outbound :${a.outbound}  admin :${a.admin}`);
  const tryRows: [string, string][] = [
    [`curl -s http://127.0.0.1:${frontend.inbound}/`, 'into frontend, through its sidecar'],
    [`curl -s -H 'Host: orders' http://127.0.0.1:${frontend.outbound}/orders`, 'as frontend calls orders (canary split)'],
    [`curl -s -H 'Host: payments' -X POST http://127.0.0.1:${orders.outbound}/charge`, 'as orders calls payments (2s timeout)'],
    [`curl -si -H 'Host: nope' http://127.0.0.1:${frontend.outbound}/`, 'unknown service: 404, x-meshlight-flags: NR'],
    [`curl -s http://127.0.0.1:${frontend.admin}/config_dump`, "frontend's sidecar: the active config"],
    [`curl -s http://127.0.0.1:${frontend.admin}/clusters`, 'its upstreams and their state'],
    [`curl -s http://127.0.0.1:${orders.admin}/metrics | grep 'mesh_requests_total.*payments'`, "RED metrics: orders-v1's calls to payments"],
    [`grep '"response_code":50' ${accessLogPath(logDir, orders)} | tail -1`, 'a failed call in its access log: note trace_id'],
    [`curl -s 'http://127.0.0.1:${orders.admin}/traces?trace_id=TRACE_ID'`, 'that trace, as this sidecar recorded it'],
  ];
  const cp = `http://127.0.0.1:${DEMO_CONTROL_PLANE.http}`;
  tryRows.push(
    [`curl -s '${cp}/api/v1/graph?window=60s'`, 'the call graph: who calls whom, rps, error rate, p50/p95/p99'],
    [`curl -si -H 'Host: payments' -X POST http://127.0.0.1:${frontend.outbound}/charge`, 'a call no MeshService declares: flagged unexpected'],
    [`npx meshlight tap orders --control-plane 127.0.0.1:${DEMO_CONTROL_PLANE.grpc} --max 10`, "orders' live requests, from its sidecars"],
    [`curl -s ${cp}/api/v1/sidecars`, 'every sidecar, its config version, last ACK / NACK'],
    [`curl -s ${cp}/api/graph/data`, 'the graph for Grafana (Node Graph API data source at ' + cp + ')'],
    [`curl -s ${cp}/metrics | grep meshlight_cp_`, 'the control plane: pushes, ACKs, push-to-ACK latency'],
  );
  const width = Math.max(...tryRows.map(([c]) => c.length));
  const tries = tryRows.map(([c, why]) => `  ${c.padEnd(width)}  # ${why}`);
  return `meshlight demo: frontend -> orders (v1 90% / v2 10%) -> inventory, payments; each app behind its own sidecar,
every sidecar configured by the control plane (gRPC :${DEMO_CONTROL_PLANE.grpc}, HTTP ${cp})

Dashboard: ${cp}/   (the live service graph; click a service for its panel and live requests)

${rows.join('\n')}

Try:
${tries.join('\n')}
Config: ${configDir} (the control plane watches it: edit the orders weights in routes.yaml and watch the split move)
Access logs: ${logDir}/<instance>.log; metrics on each admin port's /metrics; traces on /traces (README: "From an alert to a trace")
`;
}

export async function runDemo(opts: DemoOptions): Promise<number> {
  const servers: Server[] = [];
  const sidecars: Sidecar[] = [];
  let controlPlane: MeshProcess | undefined;
  const counts = new TrafficCounts();
  let traffic: { stop(): Promise<void> } | undefined;
  let summary: NodeJS.Timeout | undefined;
  let code = 0;
  try {
    for (const app of DEMO_INSTANCES) servers.push(await startApp(app));
    const logDir = await mkdtemp(join(tmpdir(), 'meshlight-demo-'));
    controlPlane = startControlPlane(opts.configDir, await writeTokens(logDir, DEMO_INSTANCES), opts.logLevel);
    await waitUp(controlPlane, `http://127.0.0.1:${DEMO_CONTROL_PLANE.http}/api/v1/config`);
    for (const app of DEMO_INSTANCES) sidecars.push(startSidecar(app, opts.logLevel, logDir));
    await Promise.all(sidecars.map(waitReady));
    process.stdout.write(banner(logDir, opts.configDir));
    traffic = startTraffic(DEMO_INSTANCES[0]!.inbound, opts.rps, counts);
    process.stdout.write(`\ngenerating ${opts.rps} requests/s into frontend; a summary every 5 s${opts.durationMs === undefined ? '; Ctrl-C stops' : ''}\n`);
    summary = setInterval(() => process.stdout.write(`traffic: ${counts.summary()}\n`), 5_000);
    const died = new Promise<string>((res) => {
      for (const p of [controlPlane!, ...sidecars]) p.proc.once('exit', (c) => res(`the ${p.label} exited (${c})`));
    });
    const reason = await Promise.race([
      died,
      new Promise<string>((res) => {
        process.once('SIGINT', () => res('SIGINT'));
        process.once('SIGTERM', () => res('SIGTERM'));
        if (opts.durationMs !== undefined) setTimeout(res, opts.durationMs, 'duration reached').unref();
      }),
    ]);
    if (reason.startsWith('the ')) {
      process.stderr.write(`meshlight demo: ${reason}\n`);
      code = 1;
    }
  } catch (err) {
    process.stderr.write(`meshlight demo: ${(err as Error).message}\n`);
    code = 1;
  } finally {
    clearInterval(summary);
    await traffic?.stop();
    await Promise.all(sidecars.map(stopProcess));
    if (controlPlane !== undefined) await stopProcess(controlPlane);
    await Promise.all(servers.map((s) => new Promise((res) => s.close(res))));
    for (const s of servers) s.closeAllConnections();
  }
  if (counts.sent > 0) process.stdout.write(`final: ${counts.summary()}\n`);
  return code;
}
