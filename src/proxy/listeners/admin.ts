// Admin (15000, loopback only): readiness, the active config, the upstream clusters and metrics.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { formatIssue } from '../../config/load.js';
import type { ConfigIssue } from '../../config/types.js';
import type { Telemetry } from '../../telemetry/registry.js';
import type { Tracing } from '../../telemetry/tracing.js';
import type { ProxyPlan } from '../plan.js';

export interface AdminState {
  readonly plan: ProxyPlan | undefined;
  readonly listening: boolean;
  readonly draining: boolean;
  /** Problems of the newest config that was rejected, if the newest was rejected. */
  readonly rejected: readonly ConfigIssue[];
}

/** The stats port (15020): what Prometheus and the kubelet need, and nothing that reveals config. */
const STATS_PATHS = new Set(['/metrics', '/healthz/ready']);

/** `statsOnly`: the stats port's server, serving /metrics and /healthz/ready only. */
export function createAdminServer(state: () => AdminState, telemetry: Telemetry, tracing: Tracing, statsOnly = false): Server {
  return createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://admin');
    const path = url.pathname;
    const s = state();
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'admin endpoints are read-only: use GET\n');
    if (statsOnly && !STATS_PATHS.has(path)) return send(res, 404, 'text/plain', 'stats endpoints: /metrics /healthz/ready\n');
    switch (path) {
      case '/metrics':
        return void telemetry.scrape(req.headers.accept).then(
          ({ contentType, body }) => send(res, 200, contentType, body),
          (err: Error) => send(res, 500, 'text/plain', `metrics failed: ${err.message}\n`),
        );
      case '/healthz/ready': {
        const ready = s.plan !== undefined && s.listening && !s.draining;
        const why = s.draining ? 'draining' : s.plan === undefined ? 'no config loaded' : !s.listening ? 'listeners not up' : 'ready';
        return send(res, ready ? 200 : 503, 'text/plain', `${why}\n`);
      }
      case '/traces':
        return sendJson(res, tracing.view(url.searchParams.get('trace_id') ?? undefined));
      case '/config_dump':
        return sendJson(res, s.plan === undefined ? { version: null } : configDump(s.plan, s.rejected));
      case '/clusters':
        return sendJson(res, { clusters: s.plan === undefined ? [] : [...s.plan.clusters.values()] });
      default:
        return send(res, 404, 'text/plain', 'admin endpoints: /healthz/ready /config_dump /clusters /metrics /traces\n');
    }
  });
}

function configDump(plan: ProxyPlan, rejected: readonly ConfigIssue[]): object {
  const snap = plan.snapshot;
  return {
    version: snap.version,
    loaded_at: plan.loadedAt.toISOString(),
    sources: snap.sources,
    ...(rejected.length > 0 ? { last_rejected: rejected.map(formatIssue) } : {}),
    services: [...snap.services.values()],
    http_routes: snap.httpRoutes,
    telemetry: snap.telemetry,
  };
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function sendJson(res: ServerResponse, value: unknown): void {
  send(res, 200, 'application/json', `${JSON.stringify(value, null, 2)}\n`);
}
