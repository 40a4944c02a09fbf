// Admin (15000, loopback only): readiness, the active config, the upstream clusters and metrics.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { formatIssue } from '../../config/load.js';
import type { ConfigIssue } from '../../config/types.js';
import type { Telemetry } from '../../telemetry/registry.js';
import type { Tracing } from '../../telemetry/tracing.js';
import type { ProxyPlan } from '../plan.js';
import type { Cluster } from '../upstream/cluster.js';
import type { EndpointState } from '../upstream/endpoint.js';

export interface AdminState {
  readonly plan: ProxyPlan | undefined;
  readonly listening: boolean;
  readonly draining: boolean;
  /** Problems of the newest config that was rejected, if the newest was rejected. */
  readonly rejected: readonly ConfigIssue[];
  /** Where the config comes from when a control plane pushes it, and whether the stream is up now. */
  readonly controlPlane: { readonly address: string; readonly connected: boolean } | undefined;
}

/** The stats port (15020): what Prometheus and the kubelet need, and nothing that reveals config. */
const STATS_PATHS = new Set(['/metrics', '/healthz/ready']);

export interface AdminRequest {
  readonly method: string;
  /** Path and query, as in the request line. */
  readonly url: string;
  readonly accept: string | undefined;
}

export interface AdminAnswer {
  readonly status: number;
  readonly type: string;
  readonly body: string;
}

/** Who answers admin requests: a sidecar itself, or the --concurrency primary asking its workers (workers.ts). */
export type AdminResponder = (req: AdminRequest) => Promise<AdminAnswer>;

/** The answer every admin server gives before looking at state: read-only, and the stats port's short list. */
export function adminRefusal(req: AdminRequest, statsOnly: boolean): AdminAnswer | undefined {
  if (req.method !== 'GET' && req.method !== 'HEAD') return text(405, 'admin endpoints are read-only: use GET\n');
  if (statsOnly && !STATS_PATHS.has(new URL(req.url, 'http://admin').pathname)) return text(404, 'stats endpoints: /metrics /healthz/ready\n');
  return undefined;
}

/** `statsOnly`: the stats port's server, serving /metrics and /healthz/ready only. */
export function createAdminServer(state: () => AdminState, telemetry: Telemetry, tracing: Tracing, statsOnly = false): Server {
  return serveAdmin((req) => adminAnswer(req, state(), telemetry, tracing, statsOnly));
}

export function serveAdmin(respond: AdminResponder): Server {
  return createServer((req: IncomingMessage, res: ServerResponse) => {
    const request = { method: req.method ?? 'GET', url: req.url ?? '/', accept: req.headers.accept };
    void respond(request).then(
      (a) => send(res, a.status, a.type, a.body),
      (err: Error) => send(res, 500, 'text/plain', `admin failed: ${err.message}\n`),
    );
  });
}

export async function adminAnswer(req: AdminRequest, s: AdminState, telemetry: Telemetry, tracing: Tracing, statsOnly: boolean): Promise<AdminAnswer> {
  const refused = adminRefusal(req, statsOnly);
  if (refused !== undefined) return refused;
  const url = new URL(req.url, 'http://admin');
  switch (url.pathname) {
    case '/metrics': {
      const { contentType, body } = await telemetry.scrape(req.accept);
      return { status: 200, type: contentType, body };
    }
    case '/healthz/ready': {
      const ready = s.plan !== undefined && s.listening && !s.draining;
      const why = s.draining ? 'draining' : s.plan === undefined ? 'no config loaded' : !s.listening ? 'listeners not up' : 'ready';
      return text(ready ? 200 : 503, `${why}\n`);
    }
    case '/traces':
      return json(tracing.view(url.searchParams.get('trace_id') ?? undefined));
    case '/config_dump':
      return json(s.plan === undefined ? { version: null } : configDump(s.plan, s.rejected, s.controlPlane));
    case '/clusters':
      return json({ clusters: s.plan === undefined ? [] : describeClusters(s.plan.clusters) });
    default:
      return text(404, 'admin endpoints: /healthz/ready /config_dump /clusters /metrics /traces\n');
  }
}

/**
 * What /clusters shows. An address that is an endpoint of several services (orders and orders-v1) has
 * one pool and one set of counters, for all of them; its entry says which services share it.
 */
function describeClusters(clusters: ReadonlyMap<string, Cluster>): object[] {
  const users = new Map<EndpointState, string[]>();
  for (const c of clusters.values()) for (const ep of c.endpoints) users.set(ep, [...(users.get(ep) ?? []), c.name]);
  return [...clusters.values()].map((c) => ({
    name: c.name,
    endpoints: c.endpoints.map((ep) => {
      const shared = users.get(ep)!;
      return shared.length > 1 ? { ...ep.toJSON(), counters_shared_by: shared } : ep.toJSON();
    }),
  }));
}

function configDump(plan: ProxyPlan, rejected: readonly ConfigIssue[], controlPlane: AdminState['controlPlane']): object {
  const snap = plan.snapshot;
  return {
    version: snap.version,
    loaded_at: plan.loadedAt.toISOString(),
    ...(controlPlane !== undefined ? { control_plane: controlPlane } : {}),
    sources: snap.sources,
    ...(rejected.length > 0 ? { last_rejected: rejected.map(formatIssue) } : {}),
    services: [...snap.services.values()],
    http_routes: snap.httpRoutes,
    telemetry: snap.telemetry,
  };
}

/** A plain-text admin answer. */
export function text(status: number, body: string): AdminAnswer {
  return { status, type: 'text/plain', body };
}

function json(value: unknown): AdminAnswer {
  return { status: 200, type: 'application/json', body: `${JSON.stringify(value, null, 2)}\n` };
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
