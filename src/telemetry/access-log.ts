// The access log sink: one JSON line per request, to stdout or a file, never blocking the event loop.
// Lines are batched and handed to an fs stream (libuv's thread pool, also for stdout: a plain
// process.stdout write is synchronous when stdout is a file). When the destination cannot keep up and
// the backlog passes a bound, lines are dropped and counted instead of memory growing.
// Batches go out every FLUSH_MS, like Envoy's file_flush_interval: a write per event-loop turn was 8%
// of the CPU at 15k req/s (each one a hand-off to a pool thread that shares the proxy's core). Lines are
// copied into a reused off-heap buffer at once, so a batch held for FLUSH_MS is no work for the GC.
import { createWriteStream, type WriteStream } from 'node:fs';
import type { Tracing } from './tracing.js';

/** Bytes waiting to be written past which new lines are dropped. */
export const MAX_BACKLOG_BYTES = 8 * 1024 * 1024;
/** A batch is written when its buffer is full, or FLUSH_MS after its first line. */
const BATCH_BYTES = 128 * 1024;
export const FLUSH_MS = 100;
/** Buffers kept for the next batches once their write is done. */
const SPARE_BUFFERS = 2;

export class AccessLogSink {
  dropped = 0;
  written = 0;
  private stream: WriteStream;
  private batch: Buffer | undefined = undefined;
  private used = 0;
  private readonly spare: Buffer[] = [];
  private timer: NodeJS.Timeout | undefined = undefined;
  private broken = false;

  /** `path` undefined: stdout. */
  constructor(private readonly path: string | undefined) {
    this.stream = this.open();
  }

  private open(): WriteStream {
    const stream = this.path === undefined ? createWriteStream('', { fd: 1, autoClose: false }) : createWriteStream(this.path, { flags: 'a' });
    // A failing destination (closed pipe, removed directory) must not take the proxy down: from then on
    // lines are counted as dropped until a reopen (SIGUSR1) succeeds.
    stream.on('error', () => {
      this.broken = true;
    });
    return stream;
  }

  write(line: string): void {
    if (this.broken || this.stream.writableLength + this.used > MAX_BACKLOG_BYTES) {
      this.dropped++;
      return;
    }
    this.written++;
    // UTF-8 takes at most 3 bytes per UTF-16 unit; count exactly only when that bound does not fit.
    if (this.used + line.length * 3 > BATCH_BYTES) {
      const bytes = Buffer.byteLength(line);
      if (this.used + bytes > BATCH_BYTES) this.flushBatch();
      if (bytes > BATCH_BYTES) {
        this.stream.write(line);
        return;
      }
    }
    const batch = (this.batch ??= this.spare.pop() ?? Buffer.allocUnsafeSlow(BATCH_BYTES));
    this.used += batch.write(line, this.used);
    if (this.timer === undefined) {
      this.timer = setTimeout(flushSink, FLUSH_MS, this);
      // The pending batch never keeps the process alive on its own; close() writes it.
      this.timer.unref();
    }
  }

  flushBatch(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const batch = this.batch;
    if (batch === undefined || this.used === 0 || this.broken) return;
    const chunk = batch.subarray(0, this.used);
    this.batch = undefined;
    this.used = 0;
    // A few writes a second: the closure is fine. The buffer is reused only once the write is done.
    this.stream.write(chunk, () => {
      if (this.spare.length < SPARE_BUFFERS) this.spare.push(batch);
    });
  }

  /** logrotate: after the file was moved away, SIGUSR1 makes the log continue in a new file. */
  reopen(): void {
    if (this.path === undefined) return;
    this.flushBatch();
    const old = this.stream;
    this.broken = false;
    this.stream = this.open();
    old.end();
  }

  /** Writes what is buffered and waits until it is on its way to the file or pipe. */
  close(): Promise<void> {
    this.flushBatch();
    const stream = this.stream;
    // An empty write's callback runs once everything before it is written ('drain' would only come after a
    // write that filled the buffer: waiting for it hung a --concurrency worker, which its IPC channel keeps alive).
    if (this.path === undefined) return new Promise((res) => (stream.writableLength === 0 ? res() : stream.write('', () => res())));
    return new Promise((res) => stream.end(res));
  }
}

function flushSink(sink: AccessLogSink): void {
  sink.flushBatch();
}

/** What a listener adds to every line it logs. */
export interface AccessLogContext {
  readonly sink: AccessLogSink;
  readonly reporter: 'source' | 'destination';
}

/** The telemetry a listener hands to each of its requests. */
export interface ListenerTelemetry {
  readonly log: AccessLogContext;
  readonly tracing: Tracing;
}

/** The request as the contract (docs/contract.md section 5) names it; read off the exchange, so no record object per request. */
export interface LoggedRequest {
  readonly startMs: number;
  readonly method: string;
  readonly authority: string;
  readonly originalPath: string;
  readonly originalQuery: string;
  readonly protocol: string;
  readonly status: number;
  readonly flag: string | undefined;
  readonly bytesReceived: number;
  readonly bytesSent: number;
  readonly upstreamHost: string | undefined;
  readonly upstreamService: string | undefined;
  readonly routeName: string | undefined;
  readonly sourceService: string;
  readonly requestId: string;
  readonly traceId: string | undefined;
  readonly spanId: string | undefined;
  readonly userAgent: string | undefined;
}

/** What JSON must escape in a string (RFC 8259 7); most values have none, and a test is cheaper than JSON.stringify. */
const NEEDS_ESCAPE = /["\\\u0000-\u001f]/;
const str = (v: string | undefined): string => (v === undefined ? 'null' : NEEDS_ESCAPE.test(v) ? JSON.stringify(v) : `"${v}"`);

// Requests starting in the same millisecond share one formatted timestamp.
let lastMs = -1;
let lastIso = '';
function isoTime(ms: number): string {
  if (ms !== lastMs) {
    lastMs = ms;
    lastIso = new Date(ms).toISOString();
  }
  return lastIso;
}

/** One JSON line; strings go through JSON.stringify (correct escaping), the rest is concatenated. */
export function formatAccessLog(r: LoggedRequest, reporter: string, durationMs: number): string {
  return (
    `{"start_time":"${isoTime(r.startMs)}","reporter":"${reporter}","method":${str(r.method)},` +
    `"authority":${str(r.authority)},"path":${str(r.originalPath + r.originalQuery)},"protocol":"HTTP/${r.protocol}",` +
    `"response_code":${r.status},"response_flags":${str(r.flag ?? '-')},"bytes_received":${r.bytesReceived},` +
    `"bytes_sent":${r.bytesSent},"duration_ms":${Math.round(durationMs * 1000) / 1000},` +
    `"upstream_host":${str(r.upstreamHost)},"upstream_service":${str(r.upstreamService)},"route":${str(r.routeName)},` +
    `"source_service":${str(r.sourceService)},"request_id":${str(r.requestId)},"trace_id":${str(r.traceId)},` +
    `"span_id":${str(r.spanId)},"user_agent":${str(r.userAgent)}}\n`
  );
}
