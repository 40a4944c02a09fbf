// The demo's own services: tiny node:http apps that call each other through their sidecars, the way a
// real app uses a mesh (plain HTTP to the service name, the sidecar does the rest).
import { Agent, createServer, request, type IncomingHttpHeaders, type OutgoingHttpHeaders, type Server } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { SLOW_ANSWER_MS, type DemoInstance } from './topology.js';

export interface CallResult {
  readonly status: number;
  readonly body: string;
}

/** What an app must pass from the request it serves to the calls it makes, for one trace per request. */
const PROPAGATED = ['traceparent', 'tracestate', 'b3', 'x-b3-traceid', 'x-b3-spanid', 'x-b3-parentspanid', 'x-b3-sampled', 'x-b3-flags', 'x-request-id'];

/** How long an app waits for an answer, as a real client would: past it the call fails (status 0). */
const CALL_TIMEOUT_MS = 10_000;

/** One HTTP call on a keep-alive agent; a failed connection, or no answer within CALL_TIMEOUT_MS, comes back as status 0. */
export function call(agent: Agent, port: number, host: string, method: string, path: string, incoming: IncomingHttpHeaders = {}): Promise<CallResult> {
  const headers: OutgoingHttpHeaders = { host };
  for (const h of PROPAGATED) if (incoming[h] !== undefined) headers[h] = incoming[h];
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, method, path, agent, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', () => resolve({ status: 0, body }));
    });
    req.on('error', (err) => resolve({ status: 0, body: err.message }));
    req.setTimeout(CALL_TIMEOUT_MS, () => req.destroy(new Error(`no answer within ${CALL_TIMEOUT_MS} ms`)));
    req.end();
  });
}

function versionIn(body: string): string | undefined {
  try {
    return (JSON.parse(body) as { version?: string }).version;
  } catch {
    return undefined;
  }
}

async function handle(app: DemoInstance, agent: Agent, incoming: IncomingHttpHeaders): Promise<{ status: number; body: object }> {
  await sleep(app.latencyMs + Math.random() * app.latencyMs);
  const roll = Math.random();
  if (roll < app.errorRate) return { status: 503, body: { service: app.service, version: app.version, error: 'demo failure' } };
  if (roll < app.errorRate + app.slowRate) await sleep(SLOW_ANSWER_MS);
  const calls: Record<string, { status: number; version?: string }> = {};
  let status = 200;
  for (const c of app.calls) {
    const r = await call(agent, app.outbound, c.service, c.method, c.path, incoming);
    calls[c.service] = { status: r.status, version: versionIn(r.body) };
    if (r.status >= 500 || r.status === 0) status = 502; // a dependency failed: so do we, as most apps would
  }
  return { status, body: { service: app.service, version: app.version, calls } };
}

export async function startApp(app: DemoInstance): Promise<Server> {
  const agent = new Agent({ keepAlive: true });
  const server = createServer((req, res) => {
    req.resume();
    void handle(app, agent, req.headers).then(({ status, body }) => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(`${JSON.stringify(body)}\n`);
    });
  });
  server.on('close', () => agent.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(app.appPort, '127.0.0.1', resolve);
  });
  return server;
}
