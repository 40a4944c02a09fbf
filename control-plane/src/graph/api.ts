// The graph's HTTP endpoints on the control plane's port 15014: the topology API and the Grafana Node
// Graph API data source. The control plane's server hands each request here first.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Snapshot } from '../../../src/config/types.js';
import { parseDuration } from '../../../src/config/duration.js';
import { formatDuration } from './assemble.js';
import { declaredCallers, withExpectations } from './expected.js';
import { NODE_GRAPH_FIELDS, toNodeGraphData } from './grafana.js';
import { checkHistory, graphHistory, HISTORY_DEFAULTS } from './history.js';
import type { GraphSource } from './types.js';
import { sendJson } from '../http-api.js';

export const DEFAULT_WINDOW_MS = 60_000;
/** Below a few report intervals (or scrape intervals) a rate means little; past an hour use Grafana's own range. */
export const MIN_WINDOW_MS = 5_000;
export const MAX_WINDOW_MS = 3_600_000;

const PATHS = new Set(['/api/v1/graph', '/api/v1/graph/history', '/api/health', '/api/graph/fields', '/api/graph/data']);

/** The `window` (or another duration) query parameter in milliseconds, or the reason it cannot be used. */
export function parseWindow(url: URL, source: GraphSource, name = 'window', byDefault = DEFAULT_WINDOW_MS): number | { error: string } {
  const text = url.searchParams.get(name);
  if (text === null || text === '') return byDefault;
  const ms = parseDuration(text);
  const max = Math.min(MAX_WINDOW_MS, source.maxWindowMs ?? MAX_WINDOW_MS);
  const range = `${formatDuration(MIN_WINDOW_MS)} to ${formatDuration(max)}`;
  if (ms === undefined) return { error: `${name}: ${JSON.stringify(text)} is not a duration like 30s, 5m or 1h (allowed: ${range})` };
  if (ms < MIN_WINDOW_MS || ms > max) {
    const why = max < MAX_WINDOW_MS ? ` (this control plane keeps ${formatDuration(max)} in memory; --prometheus-url allows up to ${formatDuration(MAX_WINDOW_MS)})` : '';
    return { error: `${name}: ${text} is outside ${range}${why}` };
  }
  return ms;
}

/**
 * Answers the graph endpoints and returns true; returns false for any other path, untouched. `snapshot`:
 * the config being served, whose declared callers are laid over the observed edges.
 */
export function handleGraphRequest(req: IncomingMessage, res: ServerResponse, url: URL, source: GraphSource, snapshot: Snapshot): boolean {
  if (!PATHS.has(url.pathname)) return false;
  const method = req.method ?? 'GET';
  if (method !== 'GET' && method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    sendJson(res, 405, { error: `${method} is not allowed on ${url.pathname}; use GET` }, method);
    return true;
  }
  if (url.pathname === '/api/health') {
    sendJson(res, 200, { status: 'ok' }, method);
    return true;
  }
  if (url.pathname === '/api/graph/fields') {
    sendJson(res, 200, NODE_GRAPH_FIELDS, method);
    return true;
  }
  if (url.pathname === '/api/v1/graph/history') {
    answerHistory(res, url, source, method);
    return true;
  }
  const windowMs = parseWindow(url, source);
  if (typeof windowMs !== 'number') {
    sendJson(res, 400, windowMs, method);
    return true;
  }
  const grafana = url.pathname === '/api/graph/data';
  const declared = declaredCallers(snapshot);
  source.graph(windowMs).then(
    (observed) => {
      const g = withExpectations(observed, declared);
      sendJson(res, 200, grafana ? toNodeGraphData(g) : g, method);
    },
    (err: unknown) => sourceFailed(res, err, method),
  );
  return true;
}

function answerHistory(res: ServerResponse, url: URL, source: GraphSource, method: string): void {
  const windowMs = parseWindow(url, source, 'window', HISTORY_DEFAULTS.windowMs);
  if (typeof windowMs !== 'number') return sendJson(res, 400, windowMs, method);
  const stepMs = parseWindow(url, source, 'step', HISTORY_DEFAULTS.stepMs);
  if (typeof stepMs !== 'number') return sendJson(res, 400, stepMs, method);
  const problem = checkHistory(windowMs, stepMs);
  if (problem !== undefined) return sendJson(res, 400, { error: problem }, method);
  graphHistory(source, windowMs, stepMs).then((h) => sendJson(res, 200, h, method), (err: unknown) => sourceFailed(res, err, method));
}

function sourceFailed(res: ServerResponse, err: unknown, method: string): void {
  sendJson(res, 502, { error: `graph source failed: ${err instanceof Error ? err.message : String(err)}` }, method);
}
