// The upstream side of the engine: keep-alive connections to one endpoint (EndpointPool) and the
// response parsing on each (UpstreamConnection), as strict as the request side. It hands the response
// head and the body bytes, as they arrived, to the stream that sent the request.
import { connect, type Socket } from 'node:net';
import { BodyReader, BROKEN } from './body.js';
import { findHeadEnd, Framing, HeadError, parseResponseHead, saysClose, saysKeepAlive, type HeadLimits, type ResponseHead } from './head-parser.js';
import { UpstreamConnectError, UpstreamOverflowError, UpstreamProtocolError, UpstreamResetError, type ProxyError } from '../errors.js';

/** The request side of one exchange, as the pool and the connection see it. */
export interface ResponseStream {
  /** The request's method: an answer to HEAD has no body. */
  readonly method: string;
  /** A connection is this request's now: write it (UpstreamConnection.writeRequest). */
  onConnected(conn: UpstreamConnection): void;
  /** A final (or 101) response head; `batched`: body bytes or the end follow in the same turn (cork until then). */
  onResponseHead(head: ResponseHead, batched: boolean): void;
  /** Body bytes as they arrived (chunked framing included, unless payloadOnly). */
  onResponseBody(chunk: Buffer): void;
  /** `bodyBytes`: the payload's size (chunked framing not counted). */
  onResponseEnd(bodyBytes: number): void;
  /** `replayable`: the request met a connection the server had just closed, before any answer byte (the keep-alive race). */
  onUpstreamError(err: ProxyError, replayable: boolean): void;
  /** The upstream socket takes writes again. */
  onUpstreamDrain(): void;
}

export interface PoolOptions {
  readonly connectTimeoutMs: number;
  /** Idle keep-alive connections close after this (shorter than upstream servers' own, so we never reuse one they closed). */
  readonly idleTimeoutMs: number;
  /** Connections per endpoint (Envoy's circuit-breaker default is 1,024) and requests waiting for one. */
  readonly maxConnections: number;
  readonly maxPending: number;
  readonly limits: HeadLimits;
}

export const POOL_DEFAULTS = { idleTimeoutMs: 4_000, maxConnections: 1_024, maxPending: 1_024, limits: { maxHeadBytes: 60 * 1024, maxHeaders: 200 } };

const CONNECTING = 0;
const IDLE = 1;
const BUSY = 2;
const CLOSED = 3;

const R_HEAD = 0;
const R_BODY = 1;
const R_DONE = 2;

const EMPTY = Buffer.alloc(0);

export class UpstreamConnection {
  private state = CONNECTING;
  stream: ResponseStream | undefined = undefined;
  /** Served an answer before: a failure before any answer byte may be the keep-alive race. */
  private reused = false;
  private gotBytes = false;
  private phase = R_HEAD;
  private held: Buffer = EMPTY;
  private readonly body = new BodyReader();
  private keepAlive = true;
  /** The whole request (body included) is written. */
  private requestDone = false;

  constructor(
    readonly socket: Socket,
    private readonly pool: EndpointPool,
  ) {
    socket.setNoDelay(true);
    socket.setTimeout(pool.opts.connectTimeoutMs);
    socket.on('connect', () => this.onConnect());
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.onEnd());
    socket.on('error', (err: NodeJS.ErrnoException) => this.onError(err));
    socket.on('close', () => this.onClose());
    socket.on('timeout', () => this.onTimeout());
    socket.on('drain', () => this.stream?.onUpstreamDrain());
  }

  assign(stream: ResponseStream): void {
    this.stream = stream;
    this.phase = R_HEAD;
    this.gotBytes = false;
    this.requestDone = false;
    this.keepAlive = true;
    if (this.state === IDLE) {
      this.state = BUSY;
      this.socket.setTimeout(0);
      stream.onConnected(this);
    }
  }

  /** The head (latin1 text) and any body bytes already read, in one write. */
  writeRequest(head: string, body: readonly Buffer[] | undefined, complete: boolean): boolean {
    this.requestDone = complete;
    if (body === undefined || body.length === 0) return this.socket.write(head, 'latin1');
    this.socket.cork();
    this.socket.write(head, 'latin1');
    let ok = true;
    for (const b of body) ok = this.socket.write(b);
    this.socket.uncork();
    return ok;
  }

  writeBody(chunk: Buffer): boolean {
    return this.socket.write(chunk);
  }

  /** The client's body is all sent. */
  endRequest(): void {
    this.requestDone = true;
  }

  /** Payload bytes instead of raw chunked framing (for a client that cannot take chunked). */
  payloadOnly(onPayload: (b: Buffer) => void): void {
    this.body.onPayload = onPayload;
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  /** The exchange gives up on it (timeout, client gone, broken answer): never reused. */
  abort(): void {
    this.stream = undefined;
    this.state = CLOSED;
    this.socket.destroy();
  }

  /** For a tunnel after 101: the pool lets go of the socket; returns bytes read past the head. */
  detach(): Buffer {
    this.state = CLOSED;
    this.stream = undefined;
    this.socket.removeAllListeners('data');
    this.socket.removeAllListeners('end');
    this.socket.removeAllListeners('drain');
    this.socket.removeAllListeners('timeout');
    this.socket.setTimeout(0);
    this.pool.forget(this);
    const held = this.held;
    this.held = EMPTY;
    return held;
  }

  private onConnect(): void {
    this.socket.setTimeout(0);
    const stream = this.stream;
    if (stream === undefined) {
      this.state = IDLE;
      this.pool.release(this);
      return;
    }
    this.state = BUSY;
    stream.onConnected(this);
  }

  private onData(chunk: Buffer): void {
    const stream = this.stream;
    if (stream === undefined || this.state !== BUSY) {
      // Bytes nobody asked for (on an idle connection, or after an answer): this connection is not HTTP we can trust.
      this.socket.destroy();
      return;
    }
    this.gotBytes = true;
    if (this.phase === R_HEAD) this.readHead(this.held.length === 0 ? chunk : Buffer.concat([this.held, chunk]), this.held.length, stream);
    else this.readBody(chunk, 0, stream);
  }

  private readHead(buf: Buffer, searchFrom: number, stream: ResponseStream): void {
    const limits = this.pool.opts.limits;
    for (;;) {
      const end = findHeadEnd(buf, searchFrom);
      if (end === -1) {
        if (buf.length > limits.maxHeadBytes) return this.fail(new UpstreamProtocolError(`upstream ${this.pool.address} sent a response head larger than ${limits.maxHeadBytes} bytes`));
        this.held = buf;
        return;
      }
      if (end > limits.maxHeadBytes) return this.fail(new UpstreamProtocolError(`upstream ${this.pool.address} sent a response head larger than ${limits.maxHeadBytes} bytes`));
      let head: ResponseHead;
      try {
        head = parseResponseHead(buf.toString('latin1', 0, end), limits);
      } catch (err) {
        if (err instanceof HeadError) return this.fail(new UpstreamProtocolError(`upstream ${this.pool.address} sent a malformed response: ${err.message}`));
        throw err;
      }
      this.held = EMPTY;
      if (head.status < 200 && head.status !== 101) {
        // Interim answers (100 Continue, 103 Early Hints) are not passed on: the final one follows.
        buf = buf.subarray(end);
        searchFrom = 0;
        if (buf.length === 0) return;
        continue;
      }
      // No body, whatever the head says, after HEAD and for 101, 204 and 304: the framing the stream sees too.
      if (stream.method === 'HEAD' || head.status === 204 || head.status === 304 || head.status === 101) head.framing = Framing.NONE;
      const body = this.body;
      body.start(head.framing, head.contentLength);
      if (head.minor === 0 ? !saysKeepAlive(head.connection) : saysClose(head.connection)) this.keepAlive = false;
      if (body.framing === Framing.CLOSE) this.keepAlive = false;
      if (head.status === 101) {
        this.held = buf.subarray(end);
        stream.onResponseHead(head, false);
        return;
      }
      this.phase = R_BODY;
      const complete = body.empty;
      stream.onResponseHead(head, complete || end < buf.length);
      if (this.stream !== stream) return; // the exchange gave up on it while taking the head
      if (complete) {
        if (end < buf.length) this.keepAlive = false;
        this.finish(stream);
        return;
      }
      if (end < buf.length) this.readBody(buf, end, stream);
      return;
    }
  }

  private readBody(buf: Buffer, from: number, stream: ResponseStream): void {
    const body = this.body;
    const end = body.read(buf, from);
    if (end === BROKEN) return this.fail(new UpstreamProtocolError(`upstream ${this.pool.address} sent a malformed chunked body: ${body.error}`));
    const bytes = body.forwarded(buf);
    if (bytes !== undefined) stream.onResponseBody(bytes);
    if (end === -1 || this.stream !== stream) return;
    // More bytes after the answer than it framed: whatever they are, this connection is done.
    if (end < buf.length) this.keepAlive = false;
    this.finish(stream);
  }

  private finish(stream: ResponseStream): void {
    this.phase = R_DONE;
    this.stream = undefined;
    this.reused = true;
    const reusable = this.keepAlive && this.requestDone && !this.pool.closing;
    if (reusable) {
      this.state = IDLE;
      // The answer's last write may have paused it (a full client socket, or a corked head and body over 16 KiB):
      // the drain that would resume it goes to an exchange that is over. Idle, it reads (to see the server close).
      this.socket.resume();
      this.socket.setTimeout(this.pool.opts.idleTimeoutMs);
    } else {
      this.state = CLOSED;
      this.socket.destroy();
    }
    stream.onResponseEnd(this.body.payload);
    if (reusable && this.state === IDLE) this.pool.release(this);
  }

  private onEnd(): void {
    const stream = this.stream;
    if (stream !== undefined && this.state === BUSY && this.phase === R_BODY && this.body.framing === Framing.CLOSE) {
      this.keepAlive = false;
      this.finish(stream);
      return;
    }
    this.fail(new UpstreamResetError(`upstream ${this.pool.address} closed the connection before a complete answer`));
  }

  private onError(err: NodeJS.ErrnoException): void {
    if (this.state === CONNECTING) {
      this.fail(new UpstreamConnectError(`upstream connect error to ${this.pool.address}: ${err.code ?? err.message}`, { cause: err }));
    } else {
      this.fail(new UpstreamResetError(`upstream ${this.pool.address} reset the connection: ${err.code ?? err.message}`, { cause: err }));
    }
  }

  private onTimeout(): void {
    if (this.state === CONNECTING) {
      this.fail(new UpstreamConnectError(`upstream connect error to ${this.pool.address}: no connection within ${this.pool.opts.connectTimeoutMs} ms`));
    } else if (this.state === IDLE) {
      this.state = CLOSED;
      this.socket.destroy();
    }
  }

  private onClose(): void {
    if (this.state !== CLOSED) this.fail(new UpstreamResetError(`upstream ${this.pool.address} closed the connection before a complete answer`));
    this.pool.forget(this);
  }

  private fail(err: ProxyError): void {
    const stream = this.stream;
    const connecting = this.state === CONNECTING;
    const replayable = this.reused && !this.gotBytes && !connecting;
    this.state = CLOSED;
    this.stream = undefined;
    this.socket.destroy();
    this.pool.forget(this);
    if (stream !== undefined) stream.onUpstreamError(err, replayable);
    else if (connecting) this.pool.connectFailed(err);
  }
}

/** One endpoint's connections: idle ones reused newest first, new ones up to the limit, then a queue. */
export class EndpointPool {
  private readonly idle: UpstreamConnection[] = [];
  private readonly all = new Set<UpstreamConnection>();
  private readonly queue: ResponseStream[] = [];
  private readonly host: string;
  private readonly port: number;
  running = 0;
  closing = false;
  private closed: (() => void) | undefined = undefined;

  constructor(
    readonly address: string,
    readonly opts: PoolOptions,
  ) {
    const colon = address.lastIndexOf(':');
    this.host = address.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
    this.port = Number(address.slice(colon + 1));
  }

  get connected(): number {
    return this.all.size;
  }

  get pending(): number {
    return this.queue.length;
  }

  /** Finds `stream` a connection; `fresh`: a new one, never an idle one (a replay after the keep-alive race). */
  acquire(stream: ResponseStream, fresh = false): void {
    if (!fresh) {
      const conn = this.idle.pop();
      if (conn !== undefined) {
        this.running++;
        conn.assign(stream);
        return;
      }
    }
    if (this.all.size < this.opts.maxConnections) {
      this.running++;
      this.open().assign(stream);
      return;
    }
    if (this.queue.length >= this.opts.maxPending) {
      stream.onUpstreamError(new UpstreamOverflowError(`upstream ${this.address}: ${this.opts.maxConnections} connections busy and ${this.opts.maxPending} requests waiting`), false);
      return;
    }
    this.queue.push(stream);
  }

  /** A waiting request whose client left. */
  cancel(stream: ResponseStream): void {
    const i = this.queue.indexOf(stream);
    if (i !== -1) this.queue.splice(i, 1);
  }

  private open(): UpstreamConnection {
    const conn = new UpstreamConnection(connect({ host: this.host, port: this.port }), this);
    this.all.add(conn);
    return conn;
  }

  /** A connection is free (an answer done, or connected for nobody). */
  release(conn: UpstreamConnection): void {
    if (conn.stream === undefined) this.running = Math.max(0, this.running - 1);
    const next = this.queue.shift();
    if (next !== undefined) {
      this.running++;
      conn.assign(next);
      return;
    }
    if (this.closing) {
      conn.abort();
      return;
    }
    this.idle.push(conn);
  }

  /** A connect failed with no request on it: the queue's first request hears of it. */
  connectFailed(err: ProxyError): void {
    this.queue.shift()?.onUpstreamError(err, false);
  }

  forget(conn: UpstreamConnection): void {
    if (!this.all.delete(conn)) return;
    const i = this.idle.indexOf(conn);
    if (i !== -1) this.idle.splice(i, 1);
    else this.running = Math.max(0, this.running - 1);
    // A slot freed while requests wait: open a connection for the first of them.
    if (this.queue.length > 0 && !this.closing && this.all.size < this.opts.maxConnections) {
      this.running++;
      this.open().assign(this.queue.shift()!);
    }
    if (this.closing && this.all.size === 0) this.closed?.();
  }

  /** Finish what runs, then close (a reload that no longer uses this endpoint). */
  close(): Promise<void> {
    this.closing = true;
    for (const c of this.idle.splice(0)) c.abort();
    if (this.all.size === 0) return Promise.resolve();
    return new Promise((res) => (this.closed = res));
  }

  /** Close now, cutting what runs. */
  destroy(): Promise<void> {
    this.closing = true;
    for (const s of this.queue.splice(0)) s.onUpstreamError(new UpstreamResetError(`upstream ${this.address}: the proxy is shutting down`), false);
    for (const c of [...this.all]) c.abort();
    return Promise.resolve();
  }
}
