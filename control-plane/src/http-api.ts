// Port 15014: the sidecars and their config state, the control plane's /metrics, and the call graph
// (answered by `graph`, which returns false for paths that are not its own).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { formatIssue } from '../../src/config/load.js';
import type { Snapshot } from '../../src/config/types.js';
import { quote, type Logger } from '../../src/diagnostics.js';
import { parseTarget } from '../../src/request-target.js';
import type { ConfigStore } from './config-store.js';
import type { ControlPlaneMetrics } from './metrics.js';
import type { SidecarStatus } from './push.js';
import { loadDashboardAssets, type Asset } from './dashboard-assets.js';
import { serviceCatalog } from './service-catalog.js';
import type { TapBroker } from './tap-broker.js';
import { handleTapRequest } from './tap-http.js';

export type GraphHandler = (req: IncomingMessage, res: ServerResponse, url: URL, snapshot: Snapshot) => boolean;

export interface ApiState {
  readonly store: ConfigStore;
  readonly metrics: ControlPlaneMetrics;
  sidecars(): SidecarStatus[];
  readonly graph: GraphHandler;
  readonly tap: TapBroker;
  readonly log: Logger;
}

/** What `/` answers a client that does not ask for HTML (curl): the endpoints. */
const INDEX = `meshlight control plane
  /                          the dashboard (in a browser)
  /api/v1/services           the services: endpoints, declared callers, route rules with backends and weights
  /api/v1/tap?service=NAME   live requests of a service as server-sent events (&path=/prefix &method=GET &max=N)
  /api/v1/sidecars           connected sidecars: config version, last ACK / NACK and its error
  /api/v1/config             the config being served, and why the newest files were rejected if they were
  /api/v1/graph?window=60s   the call graph: services, calls between them, rps, error rate, p50/p95/p99
  /api/v1/graph/history?window=10m&step=30s   rps, error rate and p99 of every service and call, per step
  /api/health /api/graph/fields /api/graph/data   the same graph for Grafana's Node Graph API data source
  /metrics                   the control plane's own metrics
`;

/** Slow clients give up their connection: a head within 10 s, a whole request within 30 s. */
const HEADERS_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 30_000;

export function createApiServer(state: ApiState): Server {
  const assets = loadDashboardAssets();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    try {
      answer(state, assets, req, res);
    } catch (err) {
      // A handler's bug answers this request 500; it never takes the control plane down.
      state.log.error(`HTTP API: ${req.method ?? ''} ${quote(req.url ?? '')} failed: ${(err as Error).stack ?? String(err)}`);
      if (!res.headersSent) sendJson(res, 500, { error: 'internal error' }, req.method ?? 'GET');
      else res.destroy();
    }
  });
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  return server;
}

function answer(state: ApiState, assets: ReadonlyMap<string, Asset>, req: IncomingMessage, res: ServerResponse): void {
  const url = parseTarget(req.url);
  if (url === undefined) return sendJson(res, 400, { error: 'the request target must be a path such as /api/v1/graph' }, req.method ?? 'GET');
  if (state.graph(req, res, url, state.store.views.snapshot)) return;
  const method = req.method ?? 'GET';
  if (method !== 'GET' && method !== 'HEAD') return sendJson(res, 405, { error: 'read-only API: use GET' }, method);
  const asset = assets.get(url.pathname);
  if (asset !== undefined && (url.pathname !== '/' || (req.headers.accept ?? '').includes('text/html'))) {
    res.writeHead(200, { 'content-type': asset.type, 'content-length': asset.body.length, 'cache-control': 'no-cache' });
    res.end(method === 'HEAD' ? undefined : asset.body);
    return;
  }
  switch (url.pathname) {
    case '/':
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end(INDEX);
      return;
    case '/api/v1/services':
      return sendJson(res, 200, serviceCatalog(state.store.views.snapshot), method);
    case '/api/v1/tap':
      return handleTapRequest(res, req, url, state.tap, state.store.views.snapshot);
    case '/api/v1/sidecars':
      return sendJson(res, 200, state.sidecars(), method);
    case '/api/v1/config': {
      const { views, rejected, loadedAt } = state.store;
      return sendJson(res, 200, {
        version: views.snapshot.version,
        loadedAt: loadedAt.toISOString(),
        files: views.snapshot.sources,
        services: [...views.snapshot.services.keys()],
        httpRoutes: views.snapshot.httpRoutes.map((r) => `${r.namespace}/${r.name}`),
        rejected: rejected.map((i) => ({ ...i, text: formatIssue(i) })),
      }, method);
    }
    case '/metrics':
      return void state.metrics.registry.metrics().then(
        (body) => res.writeHead(200, { 'content-type': state.metrics.registry.contentType }).end(body),
        (err: Error) => sendJson(res, 500, { error: `metrics failed: ${err.message}` }, method),
      );
    default:
      return sendJson(res, 404, { error: `no such endpoint: ${url.pathname} (GET / lists them)` }, method);
  }
}

/** Every JSON answer of port 15014; a HEAD gets the headers only. */
export function sendJson(res: ServerResponse, status: number, body: unknown, method: string): void {
  const text = `${JSON.stringify(body, null, 2)}\n`;
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(method === 'HEAD' ? undefined : text);
}
