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

/**
 * The proxy refuses the request as sent: malformed (400), a head too large (431) or too slow (408), CONNECT
 * (405), an unsupported Expect (417) or HTTP version (505). The connection closes after the answer.
 */
export class DownstreamProtocolError extends ProxyError {
  readonly code = 'ML_DOWNSTREAM_PROTOCOL';
  readonly flag = 'DPE';
  constructor(
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

/** Every connection to the endpoint is busy and the queue for one is full (Envoy's overflow). */
export class UpstreamOverflowError extends ProxyError {
  readonly code = 'ML_UPSTREAM_OVERFLOW';
  readonly flag = 'UO';
  readonly status = 503;
}

/** Nothing moved on the request's body or answer for the stream idle timeout (Envoy's `SI`). */
export class StreamIdleTimeoutError extends ProxyError {
  readonly code = 'ML_STREAM_IDLE_TIMEOUT';
  readonly flag = 'SI';
  readonly status = 408;
}

/** The client went away (or broke its own request body) before the exchange finished. */
export class DownstreamClosedError extends ProxyError {
  readonly code = 'ML_DOWNSTREAM_CLOSED';
  readonly flag = 'DC';
  readonly status = 499;
}
