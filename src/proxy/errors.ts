// Why a request did not get an upstream's answer. Each class has a stable code, the Envoy response
// flag users grep for, and the status respond.ts sends when nothing has been sent yet.
export abstract class ProxyError extends Error {
  abstract readonly code: string;
  abstract readonly flag: string;
  abstract readonly status: number;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** No service, or no rule of the service, matches the request. */
export class NoRouteError extends ProxyError {
  readonly code = 'ML_NO_ROUTE';
  readonly flag = 'NR';
  readonly status = 404;
}

/** A route whose backends are absent or all weighted 0 (Gateway API: answer 500). */
export class NoBackendError extends ProxyError {
  readonly code = 'ML_NO_BACKEND';
  readonly flag = 'NR';
  readonly status = 500;
}

/** The service has no endpoints at all. */
export class NoHealthyUpstreamError extends ProxyError {
  readonly code = 'ML_NO_HEALTHY_UPSTREAM';
  readonly flag = 'UH';
  readonly status = 503;
}

/** Could not connect to the chosen endpoint (refused, unreachable, connect timeout). */
export class UpstreamConnectError extends ProxyError {
  readonly code = 'ML_UPSTREAM_CONNECT';
  readonly flag = 'UF';
  readonly status = 503;
}

/** The route's timeout passed before the upstream finished answering. */
export class UpstreamTimeoutError extends ProxyError {
  readonly code = 'ML_UPSTREAM_TIMEOUT';
  readonly flag = 'UT';
  readonly status = 504;
}

/** The upstream closed or reset the connection before a complete answer. */
export class UpstreamResetError extends ProxyError {
  readonly code = 'ML_UPSTREAM_RESET';
  readonly flag = 'UC';
  readonly status = 502;
}

/** The upstream answered something that is not HTTP. */
export class UpstreamProtocolError extends ProxyError {
  readonly code = 'ML_UPSTREAM_PROTOCOL';
  readonly flag = 'UPE';
  readonly status = 502;
}

/** The request cannot be routed as sent (two Host headers, a target that is no path); the connection closes. */
export class DownstreamProtocolError extends ProxyError {
  readonly code = 'ML_DOWNSTREAM_PROTOCOL';
  readonly flag = 'DPE';
  readonly status = 400;
}

/** The client went away (or broke its own request body) before the exchange finished. */
export class DownstreamClosedError extends ProxyError {
  readonly code = 'ML_DOWNSTREAM_CLOSED';
  readonly flag = 'DC';
  readonly status = 499;
}

const CONNECT_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT', 'EADDRNOTAVAIL']);
const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);
/** undici's codes for an answer that breaks HTTP framing or limits (a body longer or shorter than its length, a head too large). */
const PROTOCOL_CODES = new Set(['UND_ERR_RES_CONTENT_LENGTH_MISMATCH', 'UND_ERR_HEADERS_OVERFLOW']);

/** Maps an error from undici (or the socket under it) to the ProxyError a user can act on. */
export function classifyUpstreamError(err: unknown, target: string): ProxyError {
  if (err instanceof ProxyError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const detail = typeof code === 'string' ? code : err instanceof Error ? err.message : String(err);
  if (typeof code === 'string') {
    if (CONNECT_CODES.has(code)) return new UpstreamConnectError(`upstream connect error to ${target}: ${detail}`, { cause: err });
    if (TIMEOUT_CODES.has(code)) return new UpstreamTimeoutError(`upstream ${target} timed out: ${detail}`, { cause: err });
  }
  // undici's HTTPParserError often has no code (llhttp's message only), so the name decides.
  if ((typeof code === 'string' && (code.startsWith('HPE_') || PROTOCOL_CODES.has(code))) || (err as Error | null)?.name === 'HTTPParserError') {
    return new UpstreamProtocolError(`upstream ${target} sent a malformed response: ${(err as Error).message}`, { cause: err });
  }
  return new UpstreamResetError(`upstream ${target} reset the connection: ${detail}`, { cause: err });
}
