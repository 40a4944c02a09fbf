// One request through the proxy, on meshlight's own HTTP/1.1 engine (http1/). The Exchange is both the
// engine's request stream (client side) and its response stream (upstream side), so a request costs one
// object and two header lists, not a closure per step (docs/architecture.md: hot path).
import { randomUUID } from 'node:crypto';
import { quote } from '../diagnostics.js';
import {
  DownstreamProtocolError,
  NoHealthyUpstreamError,
  StreamIdleTimeoutError,
  UpstreamConnectError,
  UpstreamProtocolError,
  UpstreamTimeoutError,
  type ProxyError,
} from './errors.js';
import { FilterChain } from './filters/filter.js';
import { HOP_BY_HOP, removeHeader, serializeHeaders, setHeader, type HeaderList } from './headers.js';
import type { DownstreamConnection, RequestStream } from './http1/downstream.js';
import { Framing, type HeadError, type RequestHead, type ResponseHead } from './http1/head-parser.js';
import { tunnel } from './http1/tunnel.js';
import type { ResponseStream, UpstreamConnection } from './http1/upstream.js';
import { errorReply, formatLocalReply, type LocalReply } from './respond.js';
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

const PENDING = 0;
const STREAMING = 1;
const DONE = 2;

/** Names the calling service to the callee's sidecar; stripped from every request on the way in. */
export const SOURCE_HEADER = 'x-meshlight-source';

/** Connect failures of a body-less request move on to another endpoint, at most this many tries. */
const MAX_CONNECT_TRIES = 3;
const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';
/** Headers a `Connection` list may not remove: the request's routing and framing depend on them. */
const NOT_HOP_BY_HOP: ReadonlySet<string> = new Set(['host', 'content-length']);

export class Exchange implements RequestStream, ResponseStream, LoggedRequest, TracedRequest, FinishedHop {
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
  readonly hasBody: boolean;
  requestId = '';
  /** The PathPrefix the route matched, for ReplacePrefixMatch. */
  matchedPrefix = '';
  rule: CompiledRule | undefined = undefined;
  /** The matched rule's name; `-` on the inbound side (the callee's sidecar does not know the caller's route), as in metrics. */
  routeName: string | undefined = undefined;
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
  /** Request and response body bytes (payload: chunked framing not counted). */
  bytesReceived = 0;
  bytesSent = 0;
  /** Set when the request cannot be served as sent; the listener answers it instead of routing. */
  invalid: DownstreamProtocolError | undefined = undefined;

  private state = PENDING;
  private finished = false;
  private tries = 0;
  private replayed = false;
  private upgrade = false;
  private bodyComplete: boolean;
  /** Body bytes read before an upstream connection was ready for them. */
  private pendingBody: Buffer[] | undefined = undefined;
  private up: UpstreamConnection | undefined = undefined;
  private upstreamHead = '';
  private holding = false;
  /** A response head held back for the body bytes arriving in the same turn, so both leave in one write. */
  private heldHead: string | undefined = undefined;
  private timer: NodeJS.Timeout | undefined = undefined;

  constructor(
    readonly conn: DownstreamConnection,
    readonly head: RequestHead,
    private readonly traffic: TrafficState,
    refusal: HeadError | undefined,
  ) {
    this.method = head.method === '' ? '-' : head.method;
    this.hasBody = head.framing !== Framing.NONE;
    this.bodyComplete = !this.hasBody;
    traffic.inFlight++;
    if (refusal !== undefined) {
      this.invalid = new DownstreamProtocolError(refusal.message, refusal.status);
      this.readTarget(head.target === '' ? '/' : head.target);
      return;
    }
    this.readHead();
  }

  /** One pass over the client's headers: the upstream list, and the few values the proxy acts on. */
  private readHead(): void {
    const head = this.head;
    const raw = head.headers;
    const out = this.headers;
    let xff = '';
    let hasProto = false;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!;
      const value = raw[i + 1]!;
      switch (name) {
        case 'content-length':
          if (!this.hasBody) continue; // `Content-Length: 0`: nothing to frame
          break;
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
        case SOURCE_HEADER:
          this.source = value;
          continue;
        case 'expect':
          continue;
        default:
          if (HOP_BY_HOP.has(name)) continue;
      }
      out.push(name, value);
    }
    if (head.connection !== '') removeConnectionNamed(out, head.connection);
    if (head.upgrade !== undefined && /\bupgrade\b/i.test(head.connection) && head.upgrade.toLowerCase() !== 'h2c') {
      // WebSocket and the like: the upgrade goes to the upstream, and a 101 turns the exchange into a tunnel.
      // h2c is not taken up: the request is served as HTTP/1.1, as RFC 9113 lets a server do.
      this.upgrade = true;
      out.push('connection', 'upgrade', 'upgrade', head.upgrade);
    }
    if (head.method === 'CONNECT') this.invalid = new DownstreamProtocolError('CONNECT tunnels are not supported: call services over plain HTTP through the sidecar', 405);
    if (head.expect !== undefined && head.expect.toLowerCase() !== '100-continue') {
      this.invalid ??= new DownstreamProtocolError(`unsupported Expect ${quote(head.expect, 100)}`, 417);
    }
    this.authority = head.host ?? '';
    this.readTarget(head.target);
    // Checked here rather than by the parser so the answer carries the flag and a reason.
    if (this.authority === '' && head.minor === 1) this.invalid ??= new DownstreamProtocolError('an HTTP/1.1 request needs a Host header');
    if (this.invalid !== undefined) this.conn.closeAfter = true;
    // As node:http does: the client is told to send its body at once, and the upstream gets it straight away.
    // Never to HTTP/1.0, which has no 1xx (RFC 9110 10.1.1: ignore its expectation).
    else if (head.expect !== undefined && this.hasBody && head.minor === 1) this.conn.writeInterim(CONTINUE);
    const peer = this.conn.remoteAddress;
    out.push('x-forwarded-for', xff === '' ? peer : `${xff}, ${peer}`);
    if (!hasProto) out.push('x-forwarded-proto', 'http');
    if (this.requestId === '') {
      this.requestId = randomUUID();
      out.push('x-request-id', this.requestId);
    }
  }

  private readTarget(target: string): void {
    if (target.charCodeAt(0) !== 47 /* / */) {
      // Absolute form, from clients using HTTP_PROXY: the target's authority replaces Host (RFC 9112 3.2.2).
      // The scheme is case-insensitive; anything else (`*`, a bare authority) has no path to forward.
      const start = /^https?:\/\//i.exec(target)?.[0].length;
      if (start === undefined) {
        this.invalid ??= new DownstreamProtocolError(`request target ${quote(target, 100)} is not a path or an http:// URL`);
      } else {
        let end = start;
        while (end < target.length && target.charCodeAt(end) !== 47 && target.charCodeAt(end) !== 63) end++;
        this.authority = target.slice(start, end);
        target = end === target.length ? '/' : target.charCodeAt(end) === 63 ? `/${target.slice(end)}` : target.slice(end);
        setHeader(this.headers, 'host', this.authority);
      }
    }
    const q = target.indexOf('?');
    if (q === -1) {
      this.path = target;
    } else {
      this.path = target.slice(0, q);
      this.query = target.slice(q);
    }
    this.originalPath = this.path;
    this.originalQuery = this.query;
  }

  /** Sends the request to an endpoint of `cluster`. */
  send(cluster: Cluster, timeoutMs: number): void {
    this.cluster = cluster;
    this.timeoutMs = timeoutMs;
    if (timeoutMs > 0) this.timer = setTimeout(onExchangeTimeout, timeoutMs, this);
    this.dispatch(false);
  }

  private dispatch(fresh: boolean): void {
    const ep = this.cluster!.pick(Date.now());
    if (ep === undefined) {
      this.fail(new NoHealthyUpstreamError(`no endpoints for service ${this.cluster!.name}`));
      return;
    }
    this.endpoint = ep;
    this.tries++;
    this.holdEndpoint();
    ep.requests++;
    ep.pool.acquire(this, fresh);
  }

  /** `endpoint.active` counts this request from its dispatch until its answer, error or abort, once. */
  private holdEndpoint(): void {
    this.holding = true;
    this.endpoint!.active++;
  }

  private releaseEndpoint(): void {
    if (this.holding) {
      this.holding = false;
      this.endpoint!.active--;
    }
  }

  private buildUpstreamHead(): string {
    const h = this.headers;
    // HTTP/1.0 clients may send no Host; HTTP/1.1 upstreams need one.
    if (this.authority === '') h.push('host', this.endpoint!.address);
    const framing = this.head.framing === Framing.CHUNKED ? 'transfer-encoding: chunked\r\n' : '';
    return `${this.method} ${this.path}${this.query} HTTP/1.1\r\n${serializeHeaders(h)}${framing}\r\n`;
  }

  /** Answers from the proxy itself (no route, a redirect, an error before the upstream answered). */
  reply(reply: LocalReply): void {
    this.abortUpstream();
    this.state = DONE;
    this.clearTimer();
    this.status = reply.status;
    this.flag = reply.flag;
    this.bytesSent = Buffer.byteLength(reply.body);
    this.conn.write(formatLocalReply(reply, this.bytesSent, this.method === 'HEAD', this.connectionHeader()));
    this.conn.endAnswer();
    this.done();
  }

  fail(err: ProxyError): void {
    if (this.heldHead !== undefined) {
      // The upstream's head was read but not yet sent: the client can still get a clean error answer.
      this.heldHead = undefined;
      this.state = PENDING;
    }
    if (this.state === STREAMING) {
      // Headers are out: all we can do is cut the response short, as Envoy does.
      this.abortUpstream();
      this.state = DONE;
      this.clearTimer();
      this.flag = err.flag;
      this.conn.destroy();
      this.done();
      return;
    }
    if (this.state === DONE) return;
    this.reply(errorReply(err));
  }

  /** The answer's Connection line: close for the connection's last answer; keep-alive for an HTTP/1.0 client that asked for it. */
  private connectionHeader(): string {
    if (this.traffic.draining) this.conn.closeAfter = true;
    if (this.conn.closing) return 'connection: close\r\n';
    return this.head.minor === 0 ? 'connection: keep-alive\r\n' : '';
  }

  private clearTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
  }

  private abortUpstream(): void {
    const up = this.up;
    if (up !== undefined) {
      this.up = undefined;
      up.abort();
    } else if (this.holding) {
      // Still waiting for a connection (queued, or one being opened for it, which onConnected drops).
      this.endpoint!.pool.cancel(this);
    }
    this.releaseEndpoint();
  }

  // --- the client's side (RequestStream) ----------------------------------------------------------

  onBody(chunk: Buffer): void {
    if (this.state === DONE) return;
    const up = this.up;
    if (up !== undefined) {
      if (!up.writeBody(chunk)) this.conn.pause();
      return;
    }
    (this.pendingBody ??= []).push(chunk);
    this.conn.pause();
  }

  onBodyEnd(payloadBytes: number): void {
    this.bodyComplete = true;
    this.bytesReceived = payloadBytes;
    this.up?.endRequest();
  }

  onBodyError(err: HeadError): void {
    this.fail(new DownstreamProtocolError(err.message, err.status));
  }

  onClose(): void {
    if (this.state === DONE) return;
    this.abortUpstream();
    this.state = DONE;
    this.clearTimer();
    this.flag = 'DC';
    this.done();
  }

  onDrain(): void {
    this.up?.resume();
  }

  onIdleTimeout(): void {
    this.conn.closeAfter = true; // a body that stopped mid-way cannot be skipped to the next request
    this.fail(new StreamIdleTimeoutError(`no bytes moved for ${this.conn.idleTimeoutMs} ms (stream idle timeout)`));
  }

  // --- the upstream's side (ResponseStream) -------------------------------------------------------

  onConnected(up: UpstreamConnection): void {
    if (this.state === DONE) {
      up.abort();
      return;
    }
    this.up = up;
    if (this.upstreamHead === '') this.upstreamHead = this.buildUpstreamHead();
    const body = this.pendingBody;
    this.pendingBody = undefined;
    if (!up.writeRequest(this.upstreamHead, body, this.bodyComplete)) {
      if (!this.bodyComplete) return; // the upstream's drain resumes the client
    }
    if (!this.bodyComplete) this.conn.resume();
  }

  onResponseHead(head: ResponseHead, batched: boolean): void {
    if (this.state !== PENDING) return;
    const status = head.status;
    if (status === 101) return this.upgraded(head);
    const headers: HeaderList = [];
    const raw = head.headers;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!;
      if (HOP_BY_HOP.has(name) || (status === 204 && name === 'content-length')) continue;
      headers.push(name, raw[i + 1]!);
    }
    if (head.connection !== '') removeConnectionNamed(headers, head.connection);
    this.chain.runResponse(this, headers);
    let framing = '';
    // (The upstream side has already made the framing NONE where the answer has no body: HEAD, 204, 304.)
    if (head.framing === Framing.CHUNKED) {
      if (this.head.minor === 1) {
        framing = 'transfer-encoding: chunked\r\n';
      } else {
        // An HTTP/1.0 client cannot take chunked: it gets the payload, ended by the close.
        this.conn.closeAfter = true;
        this.up!.payloadOnly((b) => this.onResponseBody(b));
      }
    } else if (head.framing === Framing.CLOSE) {
      this.conn.closeAfter = true;
    }
    const close = this.connectionHeader();
    this.state = STREAMING;
    this.status = status;
    const text = `HTTP/1.1 ${status} ${head.reason.slice(1)}\r\n${serializeHeaders(headers)}${framing}${close}\r\n`;
    if (batched) this.heldHead = text;
    else this.conn.write(text);
  }

  onResponseBody(chunk: Buffer): void {
    if (this.state !== STREAMING) return;
    const held = this.heldHead;
    let ok: boolean;
    if (held === undefined) {
      ok = this.conn.write(chunk);
    } else {
      // Head and a small body in one buffer: one write, without writev's per-chunk work.
      this.heldHead = undefined;
      if (chunk.length <= ONE_WRITE_BYTES) {
        ok = this.conn.write(joinHead(held, chunk));
      } else {
        this.conn.write(held);
        ok = this.conn.write(chunk);
      }
    }
    if (!ok) this.up?.pause();
  }

  onResponseEnd(bodyBytes: number): void {
    const ep = this.endpoint!;
    this.releaseEndpoint();
    ep.markReachable();
    if (this.status >= 500) ep.errors++;
    this.up = undefined;
    if (this.state !== STREAMING) return;
    this.bytesSent = bodyBytes;
    this.state = DONE;
    this.clearTimer();
    if (this.heldHead !== undefined) {
      this.conn.write(this.heldHead);
      this.heldHead = undefined;
    }
    this.conn.endAnswer();
    this.done();
  }

  onUpstreamError(err: ProxyError, replayable: boolean): void {
    const ep = this.endpoint;
    this.up = undefined;
    this.releaseEndpoint();
    if (this.state === DONE) return;
    if (ep !== undefined) {
      ep.errors++;
      if (err instanceof UpstreamConnectError) {
        ep.markUnreachable(Date.now(), err.message);
        if (this.state === PENDING && !this.hasBody && this.tries < Math.min(MAX_CONNECT_TRIES, this.cluster!.endpoints.length)) {
          this.dispatch(false);
          return;
        }
      } else if (replayable && this.state === PENDING && !this.replayed && !this.hasBody) {
        // The keep-alive race: the server closed the idle connection as we sent on it. Nothing reached it: send again, on a new one.
        this.replayed = true;
        this.holdEndpoint();
        ep.pool.acquire(this, true);
        return;
      }
    }
    this.fail(err);
  }

  onUpstreamDrain(): void {
    if (!this.bodyComplete) this.conn.resume();
  }

  /** 101 Switching Protocols: the client and the upstream talk directly from here on. */
  private upgraded(head: ResponseHead): void {
    const up = this.up!;
    if (!this.upgrade) {
      this.fail(new UpstreamProtocolError(`upstream ${this.endpoint!.address} switched protocols unasked`));
      return;
    }
    this.state = STREAMING;
    this.status = 101;
    this.clearTimer();
    const headers: HeaderList = [];
    const raw = head.headers;
    for (let i = 0; i < raw.length; i += 2) if (raw[i] !== 'connection' && raw[i] !== 'upgrade' && raw[i] !== 'keep-alive') headers.push(raw[i]!, raw[i + 1]!);
    this.chain.runResponse(this, headers);
    this.conn.write(`HTTP/1.1 101 ${head.reason.slice(1)}\r\n${serializeHeaders(headers)}connection: upgrade\r\nupgrade: ${this.head.upgrade}\r\n\r\n`);
    this.up = undefined;
    this.releaseEndpoint();
    tunnel(this.conn.socket, this.conn.detach(), up.socket, up.detach(), this);
  }

  /** The tunnel closed (tunnel.ts). */
  tunnelClosed(sent: number, received: number): void {
    this.bytesSent = sent;
    this.bytesReceived = received;
    this.state = DONE;
    this.done();
  }

  timedOut(): void {
    if (this.state === DONE) return;
    this.fail(new UpstreamTimeoutError(`upstream ${this.endpoint?.address ?? this.cluster?.name} did not answer within ${this.timeoutMs} ms`));
  }

  /** Once per request, however it ended: metrics, span, access log. */
  private done(): void {
    if (this.finished) return;
    this.finished = true;
    this.traffic.inFlight--;
    const durationMs = performance.now() - this.startPerf;
    const span = this.span;
    this.series?.get(this.method, this.status, this.flag ?? '').record(durationMs / 1000, this.bytesReceived, this.bytesSent, span !== undefined ? this.traceId : undefined);
    if (span !== undefined) endHop(span, this);
    if (this.log !== undefined) this.log.sink.write(formatAccessLog(this, this.log.reporter, durationMs));
    if (TAP.on) TAP.record(this, durationMs);
  }

  // --- what the access log reads ------------------------------------------------------------------

  get protocol(): string {
    return this.head.minor === 0 ? '1.0' : '1.1';
  }

  get upstreamHost(): string | undefined {
    return this.endpoint?.address;
  }

  get upstreamService(): string | undefined {
    return this.cluster?.name;
  }

}

/** Bodies up to this size are copied behind their head into one buffer. */
const ONE_WRITE_BYTES = 16 * 1024;

function joinHead(head: string, body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(head.length + body.length);
  out.write(head, 0, 'latin1');
  body.copy(out, head.length);
  return out;
}

function onExchangeTimeout(ex: Exchange): void {
  ex.timedOut();
}

/** Headers named in `Connection` are hop-by-hop too (RFC 9110 7.6.1); rare, so off the common path. */
function removeConnectionNamed(headers: HeaderList, connection: string): void {
  if (connection === 'keep-alive' || connection === 'close') return; // the common values name no header
  for (const token of connection.split(',')) {
    const name = token.trim().toLowerCase();
    if (name !== '' && name !== 'close' && name !== 'keep-alive' && !NOT_HOP_BY_HOP.has(name)) removeHeader(headers, name);
  }
}
