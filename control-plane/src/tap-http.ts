// `GET /api/v1/tap?service=orders[&path=/prefix][&method=GET][&max=N]`: the live tap as server-sent
// events, for the dashboard (EventSource) and curl. Each request is a `data:` line of JSON (TapEvent),
// messages for the person tapping are `event: notice`. The same checks as `meshlight tap` over gRPC.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Snapshot } from '../../src/config/types.js';
import type { TapRequest } from '../proto/index.js';
import { sendJson } from './http-api.js';
import { tapServiceKey, type TapBroker } from './tap-broker.js';

const METHOD = /^[A-Za-z]{1,20}$/;

/** Why a tap cannot start (unknown service, bad method), or undefined. */
export function checkTapRequest(r: TapRequest, snapshot: Snapshot): string | undefined {
  if (r.service === '') return 'name the service to tap';
  const key = tapServiceKey(r.service);
  if (!snapshot.services.has(key)) return `no service ${key} in the mesh (known: ${[...snapshot.services.keys()].join(', ') || 'none'})`;
  if (r.method !== '' && !METHOD.test(r.method)) return `method ${JSON.stringify(r.method)} is not an HTTP method`;
  if (r.path_prefix !== '' && !r.path_prefix.startsWith('/')) return `path prefix ${JSON.stringify(r.path_prefix)} must start with /`;
  return undefined;
}

export function handleTapRequest(res: ServerResponse, req: IncomingMessage, url: URL, broker: TapBroker, snapshot: Snapshot): void {
  const q = url.searchParams;
  const maxText = q.get('max') ?? '0';
  if (!/^\d{1,9}$/.test(maxText)) return sendJson(res, 400, { error: `max: ${JSON.stringify(maxText)} is not a whole number` }, 'GET');
  const request: TapRequest = { service: q.get('service') ?? '', path_prefix: q.get('path') ?? '', method: q.get('method') ?? '', max: Number(maxText) };
  const problem = checkTapRequest(request, snapshot);
  if (problem !== undefined) return sendJson(res, 400, { error: problem }, 'GET');
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no' });
  if (req.method === 'HEAD') return void res.end();
  res.flushHeaders();
  const id = broker.watch(request, {
    ready: () => !res.writableNeedDrain,
    send: (e) => res.write(e.notice !== '' ? `event: notice\ndata: ${JSON.stringify(e.notice)}\n\n` : `data: ${JSON.stringify(e)}\n\n`),
    end: () => res.end(),
  });
  req.on('close', () => broker.unwatch(id));
}
