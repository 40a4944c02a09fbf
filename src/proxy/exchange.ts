// One request through the proxy. The Exchange is also the undici dispatch handler, so a request costs
// one object and a header list, not a closure per step (ARCHITECTURE: hot path).
import { randomUUID } from 'node:crypto';
import { ServerResponse, type IncomingMessage } from 'node:http';
import type { Dispatcher } from 'undici';
import {
  DownstreamClosedError,
  DownstreamProtocolError,
  NoHealthyUpstreamError,
  UpstreamConnectError,
  UpstreamProtocolError,
  UpstreamTimeoutError,
  classifyUpstreamError,
  type ProxyError,
} from './errors.js';
import { FilterChain } from './filters/filter.js';
import { HOP_BY_HOP, removeHeader, setHeader, type HeaderList } from './headers.js';
import { errorReply, sendLocalReply, type LocalReply } from './respond.js';
import type { CompiledRule } from './routing/route-table.js';
import type { RouteSeries } from '../telemetry/mesh-metrics.js';
import type { Span } from '@opentelemetry/api';
import { formatAccessLog, type AccessLogContext, type LoggedRequest } from '../telemetry/access-log.js';
import { endHop, IncomingTraceHeaders, type FinishedHop, type TracedRequest } from '../telemetry/trace-hop.js';
import type { Cluster } from './upstream/cluster.js';
import type { EndpointState } from './upstream/endpoint.js';
import { TAP } from './tap.js';

/** What the exchange needs from the listener that accepted it. */
export interface TrafficState {
  inFlight: number;
  draining: boolean;
}

/** The listeners' ServerResponse, carrying its exchange so shared event handlers need no closure. */
export class ProxyResponse extends ServerResponse<IncomingMessage> {
  exchange: Exchange | null = null;
}

const PENDING = 0;
const STREAMING = 1;
const DONE = 2;

/** Names the calling service to the callee's sidecar; stripped from every request on the way in. */
export const SOURCE_HEADER = 'x-meshlight-source';

/** Connect failures of a body-less request move on to another endpoint, at most this many tries. */
const MAX_CONNECT_TRIES = 3;

export class Exchange implements Dispatcher.DispatchHandler, LoggedRequest, TracedRequest, FinishedHop {
  readonly startMs = Date.now();
  private readonly startPerf = performance.now();
  readonly method: string;
  /** Path without the query; filters may rewrite it. */
  path = '/';
  /** `?...` or ''. */
  query = '';
  /** Host the request is for (Host header, or the absolute-form target's authority). */
  authority = '';
  /** Request headers for the upstream: lower-case, hop-by-hop removed. */
  headers: HeaderList = [];
  hasBody = false;
  requestId = '';
  /** The PathPrefix the route matched, for ReplacePrefixMatch. */
  matchedPrefix = '';
  rule: CompiledRule | undefined = undefined;
  chain: FilterChain = FilterChain.EMPTY;
  cluster: Cluster | undefined = undefined;
  endpoint: EndpointState | undefined = undefined;
  timeoutMs = 0;
  status = 0;
  flag: string | undefined = undefined;
  /** The metric labels this request is counted under, set by the listener once it is routed. */
  series: RouteSeries | undefined = undefined;
  /** The calling service as its sidecar named it (x-meshlight-source), '' when absent. */
  source = '';
  /** The calling service for the access log: this sidecar's own outbound, the header's on inbound. */
  sourceService = 'unknown';
  /** Where the access log line goes; undefined when Telemetry turns the log off. */
  log: AccessLogContext | undefined = undefined;
  /** The path and query as the client sent them, before any rewrite. */
  originalPath = '/';
  originalQuery = '';
  userAgent: string | undefined = undefined;
  traceId: string | undefined = undefined;
  spanId: string | undefined = undefined;
  /** Trace headers the request came with; made only when it has some. */
  incoming: IncomingTraceHeaders | undefined = undefined;
  /** Only sampled requests have one. */
  span: Span | undefined = undefined;
  /** Request body bytes (Content-Length; a chunked upload counts 0) and response body bytes. */
  bytesReceived = 0;
  bytesSent = 0;
  /** Set when the head is unusable; the listener answers it with 400 instead of routing. */
  invalid: DownstreamProtocolError | undefined = undefined;

  private state = PENDING;
  private tries = 0;
  private abortUpstream: ((err?: Error) => void) | null = null;
  private resumeUpstream: (() => void) | null = null;
  private timer: NodeJS.Timeout | undefined = undefined;
  private drainHooked = false;

  constructor(
    readonly req: IncomingMessage,
    readonly res: ProxyResponse,
    private readonly traffic: TrafficState,
  ) {
    this.method = req.method ?? 'GET';
    traffic.inFlight++;
    res.exchange = this;
    res.on('close', onResponseClose);
    // An answer queued behind another on a pipelined connection gets no 'close' when the client leaves
    // (node never gives it the socket); its request is destroyed with an error instead. Rare: a closure is fine.
    if (res.socket === null) req.once('close', () => this.queuedRequestClosed());
    this.readHead();
  }

  /** One pass over the client's headers: the upstream list, and the few values the proxy acts on. */
  private readHead(): void {
    const raw = this.req.rawHeaders;
    const out = this.headers;
    let host = '';
    let xff = '';
    let connection = '';
    let hasProto = false;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!.toLowerCase();
      const value = raw[i + 1]!;
      switch (name) {
        case 'host':
          // Two Host lines: routing by one while the upstream trusts the other is host confusion (RFC 9112 3.2).
          if (host !== '') this.invalid = new DownstreamProtocolError('more than one Host header');
          host = value;
          break;
        case 'content-length':
          this.hasBody = value !== '0';
          this.bytesReceived = +value;
          break;
        case 'transfer-encoding':
          this.hasBody = true;
          continue;
        case 'x-forwarded-for':
          xff = xff === '' ? value : `${xff}, ${value}`;
          continue;
        case 'x-forwarded-proto':
          hasProto = true;
          break;
        case 'x-request-id':
          this.requestId = value;
          break;
        case 'user-agent':
          this.userAgent = value;
          break;
        case 'traceparent':
        case 'tracestate':
        case 'b3':
        case 'x-b3-traceid':
        case 'x-b3-spanid':
        case 'x-b3-sampled':
        case 'x-b3-flags':
          (this.incoming ??= new IncomingTraceHeaders()).capture(name, value);
          break;
        case 'connection':
          connection = value;
          continue;
        case SOURCE_HEADER:
          this.source = value;
          continue;
        // The listener already answered `100 Continue`; the upstream gets the body straight away.
        case 'expect':
          continue;
        default:
          if (HOP_BY_HOP.has(name)) continue;
      }
      out.push(name, value);
    }
    if (connection !== '') removeConnectionNamed(out, connection);

    let target = this.req.url ?? '/';
    if (target.charCodeAt(0) !== 47 /* / */) {
      // Absolute form, from clients using HTTP_PROXY: the target's authority replaces Host (RFC 9112 3.2.2).
      // The scheme is case-insensitive; anything else (`*`, a bare authority) has no path to forward.
      const start = /^https?:\/\//i.exec(target)?.[0].length;
      if (start === undefined) {
        this.invalid = new DownstreamProtocolError(`request target ${JSON.stringify(target.slice(0, 100))} is not a path or an http:// URL`);
      } else {
        const slash = target.indexOf('/', start);
        host = slash === -1 ? target.slice(start) : target.slice(start, slash);
        target = slash === -1 ? '/' : target.slice(slash);
        setHeader(out, 'host', host);
      }
    }
    // Checked here rather than by node (requireHostHeader) so the answer carries the flag and a reason.
    if (host === '' && this.req.httpVersionMinor === 1) this.invalid ??= new DownstreamProtocolError('an HTTP/1.1 request needs a Host header');
    if (this.invalid !== undefined) this.res.shouldKeepAlive = false;
    this.authority = host;
    const q = target.indexOf('?');
    if (q === -1) {
      this.path = target;
    } else {
      this.path = target.slice(0, q);
      this.query = target.slice(q);
    }
    this.originalPath = this.path;
    this.originalQuery = this.query;
    const peer = this.req.socket.remoteAddress ?? '';
    out.push('x-forwarded-for', xff === '' ? peer : `${xff}, ${peer}`);
    if (!hasProto) out.push('x-forwarded-proto', 'http');
    if (this.requestId === '') {
      this.requestId = randomUUID();
      out.push('x-request-id', this.requestId);
    }
  }

  /** Sends the request to an endpoint of `cluster`; everything after this is driven by undici. */
  send(cluster: Cluster, timeoutMs: number): void {
    this.cluster = cluster;
    this.timeoutMs = timeoutMs;
    if (timeoutMs > 0) this.timer = setTimeout(onExchangeTimeout, timeoutMs, this);
    this.dispatch();
  }

  private dispatch(): void {
    const ep = this.cluster!.pick(Date.now());
    if (ep === undefined) {
      this.fail(new NoHealthyUpstreamError(`no endpoints for service ${this.cluster!.name}`));
      return;
    }
    this.endpoint = ep;
    this.tries++;
    ep.active++;
    ep.requests++;
    ep.pool.dispatch(
      { path: this.path + this.query, method: this.method, headers: this.headers, body: this.hasBody ? this.req : null },
      this,
    );
  }

  /** Answers from the proxy itself (no route, a redirect, ...). */
  reply(reply: LocalReply): void {
    this.finish();
    this.status = reply.status;
    this.flag = reply.flag;
    this.bytesSent = reply.body.length;
    if (this.traffic.draining) this.res.shouldKeepAlive = false;
    sendLocalReply(this.res, reply);
  }

  fail(err: ProxyError): void {
    if (this.state === STREAMING) {
      // Headers are out: all we can do is cut the response short, as Envoy does.
      this.finish();
      this.flag = err.flag;
      this.res.destroy();
      return;
    }
    this.reply(errorReply(err));
  }

  private finish(): void {
    this.state = DONE;
    if (this.timer !== undefined) clearTimeout(this.timer);
  }

  // --- undici handler --------------------------------------------------------------------------

  onConnect(abort: (err?: Error) => void): void {
    if (this.state === DONE) abort(new DownstreamClosedError('client closed the connection'));
    else this.abortUpstream = abort;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    if (statusCode < 200) return true; // informational; the final answer follows
    if (this.state !== PENDING) return false;
    const headers: HeaderList = [];
    let connection = '';
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const name = rawHeaders[i]!.toString('latin1').toLowerCase();
      if (HOP_BY_HOP.has(name)) {
        if (name === 'connection') connection = rawHeaders[i + 1]!.toString('latin1');
        continue;
      }
      headers.push(name, rawHeaders[i + 1]!.toString('latin1'));
    }
    if (connection !== '') removeConnectionNamed(headers, connection);
    this.chain.runResponse(this, headers);
    const res = this.res;
    if (this.traffic.draining) res.shouldKeepAlive = false;
    try {
      res.writeHead(statusCode, headers);
    } catch (err) {
      this.abortAttempt(new UpstreamProtocolError(`upstream ${this.endpoint!.address} sent an unusable header: ${(err as Error).message}`));
      return false;
    }
    this.state = STREAMING;
    this.status = statusCode;
    this.resumeUpstream = resume;
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.state !== STREAMING) return false;
    this.bytesSent += chunk.length;
    if (this.res.write(chunk)) return true;
    if (!this.drainHooked) {
      this.drainHooked = true;
      this.res.on('drain', onResponseDrain);
    }
    return false;
  }

  onComplete(): void {
    const ep = this.endpoint!;
    ep.active--;
    ep.markReachable();
    if (this.status >= 500) ep.errors++;
    this.abortUpstream = null;
    if (this.state !== STREAMING) return;
    this.finish();
    this.res.end();
  }

  onError(err: Error): void {
    // undici holds a 304's Content-Length (the representation's, RFC 9110 8.6) or a 204's against the
    // empty body they always have; the answer is whole, only the upstream connection is dropped.
    if (this.state === STREAMING && (this.status === 304 || this.status === 204) && (err as { code?: unknown }).code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH') {
      this.onComplete();
      return;
    }
    const ep = this.endpoint;
    this.abortUpstream = null;
    if (ep !== undefined) ep.active--;
    if (this.state === DONE) return; // we ended it ourselves: timeout or the client left
    const e = classifyUpstreamError(err, ep?.address ?? 'upstream');
    if (ep !== undefined) {
      ep.errors++;
      if (e instanceof UpstreamConnectError) {
        ep.markUnreachable(Date.now(), e.message);
        if (this.state === PENDING && !this.hasBody && this.tries < Math.min(MAX_CONNECT_TRIES, this.cluster!.endpoints.length)) {
          this.dispatch();
          return;
        }
      }
    }
    this.fail(e);
  }

  // --- events from the timer and the downstream response ----------------------------------------

  timedOut(): void {
    if (this.state === DONE) return;
    this.abortAttempt(new UpstreamTimeoutError(`upstream ${this.endpoint?.address ?? this.cluster?.name} did not answer within ${this.timeoutMs} ms`));
  }

  private abortAttempt(err: ProxyError): void {
    const abort = this.abortUpstream;
    this.fail(err);
    abort?.(err);
  }

  private queuedRequestClosed(): void {
    if (this.req.errored !== null && this.res.socket === null) this.downstreamClosed();
  }

  downstreamClosed(): void {
    this.traffic.inFlight--;
    if (this.state !== DONE) {
      this.finish();
      this.flag = 'DC';
      const abort = this.abortUpstream;
      abort?.(new DownstreamClosedError('client closed the connection'));
    }
    const durationMs = performance.now() - this.startPerf;
    const span = this.span;
    this.series?.get(this.method, this.status, this.flag ?? '').record(durationMs / 1000, this.bytesReceived, this.bytesSent, span !== undefined ? this.traceId : undefined);
    if (span !== undefined) endHop(span, this);
    if (this.log !== undefined) this.log.sink.write(formatAccessLog(this, this.log.reporter, durationMs));
    if (TAP.on) TAP.record(this, durationMs);
  }

  // --- what the access log reads ------------------------------------------------------------------

  get protocol(): string {
    return this.req.httpVersion;
  }

  get upstreamHost(): string | undefined {
    return this.endpoint?.address;
  }

  get upstreamService(): string | undefined {
    return this.cluster?.name;
  }

  get routeName(): string | undefined {
    return this.rule?.name;
  }

  resume(): void {
    this.resumeUpstream?.();
  }
}

function onResponseClose(this: ProxyResponse): void {
  this.exchange?.downstreamClosed();
}

function onResponseDrain(this: ProxyResponse): void {
  this.exchange?.resume();
}

function onExchangeTimeout(ex: Exchange): void {
  ex.timedOut();
}

/** Headers named in `Connection` are hop-by-hop too (RFC 9110 7.6.1); rare, so off the common path. */
function removeConnectionNamed(headers: HeaderList, connection: string): void {
  for (const token of connection.split(',')) {
    const name = token.trim().toLowerCase();
    if (name !== '' && name !== 'close' && name !== 'keep-alive') removeHeader(headers, name);
  }
}
