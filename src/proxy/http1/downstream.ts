// The client side of the engine: one DownstreamConnection per accepted socket. It reads one request at a
// time (a pipelined request waits, unread, until the answer before it is out, as nginx and Envoy do), so a
// bad request behind good ones is answered in turn and nothing behind a refusal is ever dispatched. It
// hands the parsed head and the body bytes, as they arrived, to the stream its handler returns, and
// writes what that stream answers. It knows nothing of routes or telemetry.
import { createServer, type Server, type Socket } from 'node:net';
import { BodyReader, BROKEN } from './body.js';
import { findHeadEnd, Framing, HeadError, parseRequestHead, RequestHead, saysClose, saysKeepAlive, type HeadLimits } from './head-parser.js';

export interface ServerLimits extends HeadLimits {
  /** Time a client has to send a whole request head once it started one (slowloris guard): 408. */
  readonly headersTimeoutMs: number;
  /** How long an idle keep-alive connection from a client stays open. */
  readonly keepAliveTimeoutMs: number;
  /** A request or response whose body moves no byte for this long is cut (Envoy's stream_idle_timeout). */
  readonly streamIdleTimeoutMs: number;
}

/** What the handler returns for a request: the engine calls it as the request's body and connection move. */
export interface RequestStream {
  /** Body bytes as they arrived (chunked framing included, unless the stream asked for payload only). */
  onBody(chunk: Buffer): void;
  /** `payloadBytes`: the body's size (chunked framing not counted). */
  onBodyEnd(payloadBytes: number): void;
  /** The body broke its framing: the request is refused (400) if the answer has not started, else cut. */
  onBodyError(err: HeadError): void;
  /** The client went away or the connection was cut before the answer was complete. */
  onClose(): void;
  /** The client's socket takes writes again after `write` returned false. */
  onDrain(): void;
  /** Nothing moved for streamIdleTimeoutMs. */
  onIdleTimeout(): void;
}

export interface DownstreamHandler {
  /** A request head (or, with `refusal`, what could be read of a refused one: answer it and the connection closes). */
  onRequest(conn: DownstreamConnection, head: RequestHead, refusal: HeadError | undefined): RequestStream;
  /** A connection that opened with the HTTP/2 preface, handed over whole (`head`: the bytes read so far). */
  onHttp2?(socket: Socket, head: Buffer): void;
}

const HEAD = 0;
const BODY = 1;
const WAIT = 2; // the request is read; its answer is not done
const TUNNEL = 3;
const CLOSED = 4;

/** Pipelined bytes held while an answer is pending; past this the socket is paused. */
const MAX_HELD_BYTES = 64 * 1024;
/** How the HTTP/2 connection preface starts (RFC 9113 3.4): a client with prior knowledge. */
const PREFACE_LINE = 'PRI * HTTP/2.0\r\n';
const EMPTY = Buffer.alloc(0);

export class DownstreamConnection {
  private state = HEAD;
  private held: Buffer = EMPTY;
  /** Where a head that arrives in pieces is gathered (capacity doubling, so a head sent byte by byte costs linear time). */
  private headSpace: Buffer | undefined = undefined;
  /** When the head being read started (0: no byte of it yet); when the connection became idle. */
  private headStartMs = 0;
  private idleSinceMs = Date.now();
  /** Last time a byte of the current request's body or answer moved. */
  lastActivityMs = 0;
  private stream: RequestStream | undefined = undefined;
  private readonly body = new BodyReader();
  private bodyDone = true;
  private answerDone = true;
  /** Close once the current answer is out (Connection: close, HTTP/1.0, a refusal, draining). */
  closeAfter = false;
  private paused = false;
  /** The client sent FIN: what it sent before is still answered, in turn; then the connection closes. */
  private ended = false;
  private lingerTimer: NodeJS.Timeout | undefined = undefined;

  constructor(
    readonly socket: Socket,
    private readonly listener: Http1Listener,
  ) {
    socket.setNoDelay(true);
    // A new connection owes its first head within the head timeout, like node's headersTimeout.
    this.headStartMs = this.idleSinceMs;
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.onEnd());
    socket.on('close', () => this.onSocketClose());
    socket.on('error', () => socket.destroy());
    socket.on('drain', () => this.stream?.onDrain());
  }

  get remoteAddress(): string {
    return this.socket.remoteAddress ?? '';
  }

  get idleTimeoutMs(): number {
    return this.listener.limits.streamIdleTimeoutMs;
  }

  get idle(): boolean {
    return this.state === HEAD && this.headStartMs === 0 && this.answerDone;
  }

  // --- reading --------------------------------------------------------------------------------

  private onData(chunk: Buffer): void {
    switch (this.state) {
      case HEAD:
        this.readHead(this.held.length === 0 ? chunk : this.growHead(chunk), this.held.length);
        return;
      case BODY:
        this.readBody(chunk, 0);
        return;
      case WAIT:
        this.hold(chunk);
        return;
      default:
    }
  }

  /** `held` + `chunk`, in headSpace. Only for a head still incomplete, so nothing else refers to that memory. */
  private growHead(chunk: Buffer): Buffer {
    const held = this.held;
    const n = held.length + chunk.length;
    let space = this.headSpace;
    if (space === undefined || held.buffer !== space.buffer || held.byteOffset !== space.byteOffset || n > space.length) {
      space = Buffer.allocUnsafe(Math.max(2 * n, 4096));
      held.copy(space);
      this.headSpace = space;
    }
    chunk.copy(space, held.length);
    return space.subarray(0, n);
  }

  private hold(chunk: Buffer): void {
    this.held = this.held.length === 0 ? chunk : Buffer.concat([this.held, chunk]);
    if (this.held.length > MAX_HELD_BYTES) this.pause();
  }

  private readHead(buf: Buffer, searchFrom: number): void {
    // Blank lines before a request line are ignored (RFC 9112 2.2), e.g. a CRLF some clients add after a body.
    let start = 0;
    while (start + 1 < buf.length && buf[start] === 13 && buf[start + 1] === 10) start += 2;
    if (start > 0) {
      buf = buf.subarray(start);
      searchFrom = Math.max(0, searchFrom - start);
    }
    if (buf.length === 0) {
      this.held = EMPTY;
      if (this.ended) this.inputDone();
      return;
    }
    if (this.headStartMs === 0) this.headStartMs = Date.now();
    const end = findHeadEnd(buf, searchFrom);
    const limits = this.listener.limits;
    if (end === -1) {
      this.held = buf;
      if (buf.length > limits.maxHeadBytes) return this.refuse(new HeadError(431, `request head larger than ${limits.maxHeadBytes} bytes`));
      // A head with bare LF line ends would never end: refuse it as soon as one shows.
      for (let lf = buf.indexOf(10, searchFrom); lf !== -1; lf = buf.indexOf(10, lf + 1)) {
        if (lf === 0 || buf[lf - 1] !== 13) return this.refuse(new HeadError(400, 'bare LF in the head (lines end with CRLF)'));
      }
      if (this.ended) this.inputDone(); // a head the FIN cut short: it can never end
      return;
    }
    if (end > limits.maxHeadBytes) return this.refuse(new HeadError(431, `request head larger than ${limits.maxHeadBytes} bytes`));
    if (buf.toString('latin1', 0, PREFACE_LINE.length) === PREFACE_LINE) return this.http2(buf);
    let head: RequestHead;
    try {
      head = parseRequestHead(buf.toString('latin1', 0, end), limits);
    } catch (err) {
      if (err instanceof HeadError) return this.refuse(err, partialHead(buf, end));
      throw err;
    }
    this.held = EMPTY;
    this.headSpace = undefined; // its bytes past the head may travel on as body: never written to again
    this.headStartMs = 0;
    this.lastActivityMs = Date.now();
    this.answerDone = false;
    this.bodyDone = head.framing === Framing.NONE;
    this.body.start(head.framing, head.contentLength);
    if ((head.minor === 0 && !saysKeepAlive(head.connection)) || saysClose(head.connection)) this.closeAfter = true;
    const rest = end < buf.length ? buf.subarray(end) : undefined;
    if (this.ended && rest === undefined) this.closeAfter = true; // the last request the client sent before its FIN
    if (this.bodyDone) {
      // No body: what follows is the next request, read once this one is answered (maybe at once, by a local answer).
      this.state = WAIT;
      if (rest !== undefined) this.hold(rest);
      this.stream = this.listener.handler.onRequest(this, head, undefined);
      return;
    }
    this.state = BODY;
    this.stream = this.listener.handler.onRequest(this, head, undefined);
    if (rest !== undefined && this.state === BODY) this.readBody(rest, 0);
    if (this.ended && this.state === BODY) this.inputDone();
  }

  /** Payload bytes instead of the raw chunked framing, for a stream that sends them on with another framing. */
  payloadOnly(onPayload: (b: Buffer) => void): void {
    this.body.onPayload = onPayload;
  }

  private readBody(buf: Buffer, from: number): void {
    const stream = this.stream!;
    const body = this.body;
    const end = body.read(buf, from);
    if (end === BROKEN) {
      this.bodyDone = true;
      this.closeAfter = true;
      this.state = WAIT;
      this.pause();
      // Already answered (a local answer, the body skipped): nobody is left to close the connection but us.
      if (this.answerDone) return this.linger();
      stream.onBodyError(new HeadError(400, `malformed chunked body: ${body.error}`));
      return;
    }
    const bytes = body.forwarded(buf);
    if (bytes !== undefined) stream.onBody(bytes);
    this.lastActivityMs = Date.now();
    if (end === -1 || this.state === CLOSED) return;
    this.bodyDone = true;
    this.state = WAIT;
    if (end < buf.length) this.hold(buf.subarray(end));
    else if (this.ended) this.closeAfter = true;
    stream.onBodyEnd(body.payload);
    if (this.answerDone && this.state === WAIT) this.next(); // not after an answer that closed the connection
  }

  /** The request is refused before it reached a handler's route: the handler answers it, then the connection closes. */
  private refuse(err: HeadError, head = new RequestHead()): void {
    this.held = EMPTY;
    this.headStartMs = 0;
    this.closeAfter = true;
    this.bodyDone = true;
    this.answerDone = false;
    this.state = WAIT;
    this.pause();
    this.stream = this.listener.handler.onRequest(this, head, err);
  }

  private http2(buf: Buffer): void {
    const onHttp2 = this.listener.handler.onHttp2;
    if (onHttp2 === undefined) return this.refuse(new HeadError(505, 'HTTP/2 with prior knowledge is not served on this port: speak HTTP/1.1'), prefaceHead());
    this.state = TUNNEL;
    this.detach();
    onHttp2(this.socket, buf);
  }

  private onEnd(): void {
    // Half-close: a client that finished sending still gets the answers to what it sent (pipelined requests
    // included, read in turn from what is held), then the close.
    this.ended = true;
    if (this.held.length === 0) this.inputDone();
    else if (this.state === HEAD) process.nextTick(readHeld, this);
  }

  /** After the client's FIN, every byte it sent is read: this answer is the last. */
  private inputDone(): void {
    this.closeAfter = true;
    if (this.state === BODY) {
      this.bodyDone = true;
      this.state = WAIT;
      if (this.answerDone) return this.linger(); // the rest of a body already answered: nothing more to say
      this.stream?.onBodyError(new HeadError(400, 'the client closed its side before the body was complete'));
      return;
    }
    if (this.answerDone) this.socket.end();
  }

  private onSocketClose(): void {
    const wasOpen = this.state !== CLOSED;
    this.state = CLOSED;
    if (this.lingerTimer !== undefined) clearTimeout(this.lingerTimer);
    this.listener.connections.delete(this);
    if (wasOpen && !this.answerDone) {
      this.answerDone = true;
      this.stream?.onClose();
    }
    this.stream = undefined;
  }

  pause(): void {
    if (!this.paused) {
      this.paused = true;
      this.socket.pause();
    }
  }

  resume(): void {
    if (this.paused && this.state !== CLOSED) {
      this.paused = false;
      this.socket.resume();
    }
  }

  // --- writing --------------------------------------------------------------------------------

  /** Head and first bytes of an answer; `close` is already decided into the head by the caller. */
  write(data: string | Buffer): boolean {
    this.lastActivityMs = Date.now();
    return typeof data === 'string' ? this.socket.write(data, 'latin1') : this.socket.write(data);
  }

  /** Interim answer (100 Continue). */
  writeInterim(head: string): void {
    this.socket.write(head, 'latin1');
  }

  /** The answer is complete: the next request is read, or the connection closes. */
  endAnswer(): void {
    if (this.answerDone) return;
    this.answerDone = true;
    this.stream = undefined;
    if (this.state === CLOSED) return;
    if (this.closing) {
      this.linger();
      return;
    }
    this.idleSinceMs = Date.now();
    if (this.bodyDone) this.next();
    else {
      this.stream = DISCARD; // the rest of a body nobody read (a local answer): skip it, keep the connection
      this.resume();
    }
  }

  /** Cut the connection now: an answer broken after its head went out, or a tunnel's end. */
  destroy(): void {
    this.socket.destroy();
  }

  /** For a tunnel (WebSocket after 101): the engine lets go of the socket; returns bytes read past the head. */
  detach(): Buffer {
    this.state = TUNNEL;
    this.answerDone = true;
    this.stream = undefined;
    this.socket.removeAllListeners('data');
    this.socket.removeAllListeners('end');
    this.socket.removeAllListeners('drain');
    // It stays in `connections` (the sweep and closeIdle pass it by) so that closeAll still ends a tunnel.
    const held = this.held;
    this.held = EMPTY;
    this.resume();
    return held;
  }

  private next(): void {
    this.state = HEAD;
    this.resume();
    // Pipelined requests are read on the next tick: answering one may finish inside the call that read it.
    if (this.held.length > 0) process.nextTick(readHeld, this);
  }

  /** (next()'s tick) Reads the pipelined request held while the one before it was answered. */
  readHeld(): void {
    if (this.state !== HEAD || this.held.length === 0) return;
    const held = this.held;
    this.held = EMPTY;
    this.readHead(held, 0);
  }

  /** Whether the current answer is the connection's last: its head must say `Connection: close`. */
  get closing(): boolean {
    return this.closeAfter || this.listener.draining;
  }

  /** Close after our answer, reading (and dropping) what the client still sends for a moment, so its
   * unread bytes do not make our kernel reset the connection before the client has read the answer. */
  private linger(): void {
    this.state = CLOSED;
    this.socket.end();
    this.socket.removeAllListeners('data');
    this.socket.on('data', noop);
    this.paused = false;
    this.socket.resume();
    this.lingerTimer = setTimeout(destroySocket, 2_000, this.socket);
    this.lingerTimer.unref();
  }

  /** Called by the listener's sweep: head, idle and stream-idle timeouts. */
  sweep(now: number): void {
    const limits = this.listener.limits;
    if (this.state === HEAD) {
      if (this.headStartMs !== 0) {
        if (now - this.headStartMs > limits.headersTimeoutMs) this.refuse(new HeadError(408, `request head not received within ${limits.headersTimeoutMs} ms`), partialHead(this.held, this.held.length));
      } else if (this.answerDone && now - this.idleSinceMs > limits.keepAliveTimeoutMs) {
        this.socket.destroy();
      }
    } else if ((this.state === BODY || this.state === WAIT) && this.lastActivityMs !== 0 && now - this.lastActivityMs > limits.streamIdleTimeoutMs) {
      this.lastActivityMs = now;
      if (!this.answerDone) this.stream?.onIdleTimeout();
      else if (this.state === BODY) this.socket.destroy(); // the skipped rest of an answered body stopped coming
    }
  }
}

function noop(): void {}

function readHeld(conn: DownstreamConnection): void {
  conn.readHeld();
}

function destroySocket(socket: Socket): void {
  socket.destroy();
}

/** Skips a body after its request was answered locally. */
const DISCARD: RequestStream = { onBody: noop, onBodyEnd: noop, onBodyError: noop, onClose: noop, onDrain: noop, onIdleTimeout: noop };

/** The method and target of a refused head, when its request line can be read, for the access log. */
function partialHead(buf: Buffer, end: number): RequestHead {
  const head = new RequestHead();
  const eol = buf.indexOf('\r\n', 0, 'latin1');
  const line = buf.toString('latin1', 0, Math.min(eol === -1 ? end : eol, 2048));
  const m = /^([A-Z]{1,20}) (\S{1,2048}) HTTP\/\d\.\d$/.exec(line);
  if (m !== null) {
    head.method = m[1]!;
    head.target = m[2]!;
  }
  return head;
}

function prefaceHead(): RequestHead {
  const head = new RequestHead();
  head.method = 'PRI';
  head.target = '*';
  return head;
}

/** A data-plane listener: accepts sockets and runs a DownstreamConnection on each. */
export class Http1Listener {
  readonly server: Server;
  readonly connections = new Set<DownstreamConnection>();
  draining = false;
  private sweeper: NodeJS.Timeout | undefined = undefined;

  constructor(
    readonly limits: ServerLimits,
    readonly handler: DownstreamHandler,
  ) {
    this.server = createServer({ noDelay: true, allowHalfOpen: true }, (socket) => {
      this.connections.add(new DownstreamConnection(socket, this));
      this.sweeper ??= this.startSweeper();
    });
  }

  private startSweeper(): NodeJS.Timeout {
    // One timer per listener instead of one per request: it checks heads, idle connections and stalled bodies.
    const every = Math.max(100, Math.min(1_000, Math.floor(Math.min(this.limits.headersTimeoutMs, this.limits.streamIdleTimeoutMs) / 4)));
    const t = setInterval(() => {
      const now = Date.now();
      for (const c of this.connections) c.sweep(now);
    }, every);
    t.unref();
    return t;
  }

  /** Stop accepting; connections between requests close, the others after their current answer. */
  close(): void {
    this.draining = true;
    this.server.close();
    this.closeIdle();
  }

  closeIdle(): void {
    for (const c of this.connections) if (c.idle) c.destroy();
  }

  closeAll(): void {
    for (const c of this.connections) c.destroy();
    if (this.sweeper !== undefined) clearInterval(this.sweeper);
  }
}
