// The HTTP/1.1 server every data-plane listener uses: node's llhttp parser with strict limits, and
// clear answers for requests that never become requests (malformed, oversized, too slow, CONNECT).
import { createServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { ProxyResponse } from '../exchange.js';
import { FLAGS_HEADER } from '../respond.js';

export interface ServerLimits {
  /** Time a client has to send the whole request head (slowloris guard); answered with 408. */
  readonly headersTimeoutMs: number;
  /** Request line + headers, in bytes; larger is answered with 431. */
  readonly maxHeaderBytes: number;
  /** How long an idle keep-alive connection from a client stays open. */
  readonly keepAliveTimeoutMs: number;
}

export type ProxyServer = Server<typeof IncomingMessage, typeof ProxyResponse>;

export function createProxyServer(limits: ServerLimits, onRequest: (req: IncomingMessage, res: ProxyResponse) => void): ProxyServer {
  const server = createServer<typeof IncomingMessage, typeof ProxyResponse>(
    {
      ServerResponse: ProxyResponse,
      headersTimeout: limits.headersTimeoutMs,
      // Bodies may stream for as long as they take (a 1 GiB upload); route timeouts bound the exchange.
      requestTimeout: 0,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      maxHeaderSize: limits.maxHeaderBytes,
      // headersTimeout is only checked this often; keep it a fraction of the timeout.
      connectionsCheckingInterval: Math.max(100, Math.min(1_000, Math.floor(limits.headersTimeoutMs / 4))),
      insecureHTTPParser: false,
      // The Exchange answers a missing Host itself (400 DPE with a reason); node's own 400 has neither.
      requireHostHeader: false,
    },
    onRequest,
  );
  server.on('clientError', onClientError);
  server.on('connect', onConnectMethod);
  return server;
}

function rawReply(socket: Duplex, status: number, flag: string, body: string): void {
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: text/plain; charset=utf-8\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n${FLAGS_HEADER}: ${flag}\r\n\r\n${body}`,
  );
}

/** Parse errors, oversized heads and head timeouts: the request never reached a handler. */
function onClientError(err: Error & { code?: string; reason?: string }, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  // The parser reports its error again for every later read; one answer is enough.
  if (answering.has(socket)) return;
  answering.add(socket);
  if (err.code === 'HPE_HEADER_OVERFLOW') replyInTurn(socket, 431, 'request headers too large\n');
  else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') replyInTurn(socket, 408, 'request headers not received in time\n');
  else replyInTurn(socket, 400, `malformed request: ${err.reason ?? err.code ?? err.message}\n`);
}

const answering = new WeakSet<Duplex>();

/**
 * Answers after the requests pipelined ahead of the bad one, or the client would take our answer for
 * theirs (nginx and Envoy do not read ahead, so they never face this). Error path only: closures are fine.
 */
function replyInTurn(socket: Duplex, status: number, body: string): void {
  if (socket.destroyed) return;
  const current = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (current == null) return rawReply(socket, status, 'DPE', body);
  if (current.req.complete) {
    // That request was read whole, so the bad bytes came after it: wait for its answer (and any queued behind it).
    current.once('close', () => replyInTurn(socket, status, body));
    return;
  }
  // The bad bytes are this request's own body.
  if (current.headersSent) socket.destroy();
  else rawReply(socket, status, 'DPE', body);
}

function onConnectMethod(_req: IncomingMessage, socket: Duplex): void {
  socket.on('error', () => socket.destroy());
  rawReply(socket, 405, 'DPE', 'CONNECT tunnels are not supported: call services over plain HTTP through the sidecar\n');
}
