// Admin (15000, loopback only): readiness, the active config, the upstream clusters and metrics.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { formatIssue } from '../../config/load.js';
import type { ConfigIssue } from '../../config/types.js';
import type { Telemetry } from '../../telemetry/registry.js';
import type { Tracing } from '../../telemetry/tracing.js';
import type { ProxyPlan } from '../plan.js';
import type { Cluster } from '../upstream/cluster.js';
import type { EndpointState } from '../upstream/endpoint.js';
import { parseTarget } from '../../request-target.js';
import { probeApp, type AppProbes } from './app-probes.js';

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
  /** A string, or chunks written one at a time (a large /metrics). */
  readonly body: string | readonly string[];
}

/** Who answers admin requests: a sidecar itself, or the --concurrency primary asking its workers (workers.ts). */
export type AdminResponder = (req: AdminRequest) => Promise<AdminAnswer>;

/**
 * Every admin server checks a request with this before looking at state: the target's URL, or the
 * answer that refuses it (not a path, not read-only, not on the stats port's short list).
 */
export function adminTarget(req: AdminRequest, statsOnly: boolean): URL | AdminAnswer {
  const url = parseTarget(req.url);
  if (url === undefined) return text(400, 'the request target must be a path such as /metrics\n');
  if (req.method !== 'GET' && req.method !== 'HEAD') return text(405, 'admin endpoints are read-only: use GET\n');
  if (statsOnly && !STATS_PATHS.has(url.pathname)) return text(404, 'stats endpoints: /metrics /healthz/ready\n');
  return url;
}

/** `statsOnly`: the stats port's server, serving /metrics and /healthz/ready (and the app's probes) only. */
export function createAdminServer(state: () => AdminState, telemetry: Telemetry, tracing: Tracing, statsOnly = false, probes?: AppProbes): Server {
  return serveAdmin((req) => adminAnswer(req, state(), telemetry, tracing, statsOnly), probes);
}

/** `probes`: the app's probes this (stats) server answers by asking the app (app-probes.ts). */
export function serveAdmin(respond: AdminResponder, probes?: AppProbes): Server {
  return createServer((req: IncomingMessage, res: ServerResponse) => {
    const request = { method: req.method ?? 'GET', url: req.url ?? '/', accept: req.headers.accept };
    const probe = probes?.get(request.url);
    void (probe !== undefined && request.method === 'GET' ? probeApp(probe) : respond(request)).then(
      (a) => send(res, a.status, a.type, a.body),
      (err: Error) => send(res, 500, 'text/plain', `admin failed: ${err.message}\n`),
    );
  });
}

export async function adminAnswer(req: AdminRequest, s: AdminState, telemetry: Telemetry, tracing: Tracing, statsOnly: boolean): Promise<AdminAnswer> {
  const url = adminTarget(req, statsOnly);
  if (!(url instanceof URL)) return url;
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

function send(res: ServerResponse, status: number, type: string, body: AdminAnswer['body']): void {
  if (typeof body !== 'string') return void sendChunks(res, status, type, body);
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/**
 * Chunk by chunk, one per turn of the event loop and at the pace the scraper reads: a large exposition
 * is never copied whole into one buffer, and the requests being proxied go on in between.
 */
async function sendChunks(res: ServerResponse, status: number, type: string, chunks: readonly string[]): Promise<void> {
  res.writeHead(status, { 'content-type': type });
  for (const chunk of chunks) {
    if (res.destroyed) return;
    if (res.write(chunk)) await nextTurn();
    else await drained(res);
  }
  res.end();
}

/** Resolves when `res` can take more, or is closed. */
function drained(res: ServerResponse): Promise<void> {
  return new Promise((resume) => {
    const done = (): void => {
      res.off('drain', done).off('close', done);
      resume();
    };
    res.on('drain', done).on('close', done);
  });
}
