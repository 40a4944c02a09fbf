// The one place that turns a ProxyError (or a filter's local reply) into a status, a text body and the
// x-meshlight-flags header, so every locally generated answer looks the same.
import { STATUS_CODES } from 'node:http';
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

/** The whole answer as latin1 text for the socket (no body for HEAD; `connection`: its Connection line or ''). */
export function formatLocalReply(reply: LocalReply, bodyBytes: number, head: boolean, connection: string): string {
  let out = `HTTP/1.1 ${reply.status} ${STATUS_CODES[reply.status] ?? ''}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${bodyBytes}\r\n`;
  if (reply.flag !== undefined) out += `${FLAGS_HEADER}: ${reply.flag}\r\n`;
  const extra = reply.headers;
  for (let i = 0; i + 1 < extra.length; i += 2) out += `${extra[i]}: ${extra[i + 1]}\r\n`;
  out += connection;
  // The body is UTF-8; the socket writes this text as latin1, so it goes as its UTF-8 bytes.
  return `${out}\r\n${head ? '' : Buffer.from(reply.body).toString('latin1')}`;
}

export function errorReply(err: ProxyError): LocalReply {
  return { status: err.status, body: `${err.message}\n`, flag: err.flag, headers: [] };
}
