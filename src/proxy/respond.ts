// The one place that turns a ProxyError (or a filter's local reply) into a status, a text body and the
// x-meshlight-flags header, so every locally generated answer looks the same.
import type { ServerResponse } from 'node:http';
import type { ProxyError } from './errors.js';

export const FLAGS_HEADER = 'x-meshlight-flags';

/** An answer a filter gives instead of calling the upstream (a redirect, a denial, an injected fault). */
export interface LocalReply {
  readonly status: number;
  readonly body: string;
  readonly flag: string | undefined;
  /** Extra headers, flat `[name, value, ...]`. */
  readonly headers: readonly string[];
}

export function sendLocalReply(res: ServerResponse, reply: LocalReply): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const headers: string[] = ['content-type', 'text/plain; charset=utf-8', 'content-length', String(Buffer.byteLength(reply.body))];
  if (reply.flag !== undefined) headers.push(FLAGS_HEADER, reply.flag);
  for (const h of reply.headers) headers.push(h);
  res.writeHead(reply.status, headers);
  res.end(reply.body);
}

export function errorReply(err: ProxyError): LocalReply {
  return { status: err.status, body: `${err.message}\n`, flag: err.flag, headers: [] };
}
