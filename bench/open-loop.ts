// The fixed-rate generator, in its own process so that its CPU can be read from /proc and the runner's
// own work (the OTLP sink) does not delay it. Open loop: request i is due at start + i/rate, whatever
// happened to the ones before it, and its latency runs from that due time to the end of its response, so
// a stall shows in every request it delays (no coordinated omission).
//
// The main thread never spins: it waits in the event loop for responses and for a clock thread, which
// sleeps in Atomics.wait (the kernel's high-resolution timers, not libuv's 1 ms ones) until each due time
// and then wakes the main thread with a message. So a send leaves within tens of microseconds of its due
// time even while other requests are in flight, at a few percent of a core at 1,000 requests/s.
//
// Protocol with bench/load.ts: argv is one JSON LoadSpec; the process runs its warm-up, prints `ready`,
// runs when a line arrives on stdin, prints one JSON OpenLoopResult, and exits when stdin closes (so the
// parent reads its CPU from /proc over exactly the measured run).
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { createInterface } from 'node:readline';
import net from 'node:net';

export interface LoadSpec {
  /** The target, on 127.0.0.1. */
  port: number;
  path: string;
  rate: number;
  /** Seconds at the rate before the measured run, on the same connections (not counted). */
  warmup: number;
  seconds: number;
  connections: number;
}

export interface OpenLoopResult {
  requests: number;
  seconds: number;
  errors: number;
  /** Latencies in ms from each request's due time, ascending. */
  sorted: number[];
  /** How late sends left after their due time: p50 and max, in ms (the generator's own precision). */
  send_lag_p50_ms: number;
  send_lag_max_ms: number;
}

/** As wrk's --timeout in bench/load.ts. */
const ANSWER_TIMEOUT_S = 5;

interface ClockData {
  startNs: number;
  intervalNs: number;
  total: number;
}

/** The clock thread: one message per due time, sent when it has passed. */
function clock({ startNs, intervalNs, total }: ClockData): void {
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  for (let i = 0; i < total; i++) {
    const waitMs = (startNs + i * intervalNs - Number(process.hrtime.bigint())) / 1e6;
    if (waitMs > 0) Atomics.wait(sleeper, 0, 0, waitMs);
    parentPort!.postMessage(i);
  }
}

/**
 * Keep-alive connections for one fixed GET, opened as needed up to `max`; a request finds a free one or
 * waits its turn (its latency still runs from its due time). A hand-made client rather than undici:
 * undici took ~150 us of CPU per request (20-45% of a core at 1,000/s), this one a fraction of that. It
 * reads what the bench's upstreams send: a status line and a Content-Length body, no pipelining.
 */
class Connections {
  private readonly idle: Conn[] = [];
  private readonly waiting: number[] = [];
  private readonly all = new Set<Conn>();
  /** Where each answer goes: request i, and whether it was a 200 (set per run). */
  finish: (i: number, ok: boolean) => void = () => {};
  constructor(
    private readonly port: number,
    private readonly request: Buffer,
    private readonly max: number,
  ) {}

  send(i: number): void {
    const conn = this.idle.pop() ?? (this.all.size < this.max ? this.connect() : undefined);
    if (conn === undefined) this.waiting.push(i);
    else conn.send(i, this.request);
  }

  /** A connection done with its request takes the next waiting one, or goes idle. */
  release(conn: Conn): void {
    const next = this.waiting.shift();
    if (next === undefined) this.idle.push(conn);
    else conn.send(next, this.request);
  }

  closed(conn: Conn): void {
    this.all.delete(conn);
    const at = this.idle.indexOf(conn);
    if (at !== -1) this.idle.splice(at, 1);
    const next = this.waiting.shift();
    if (next !== undefined) this.send(next);
  }

  private connect(): Conn {
    const conn = new Conn(net.connect(this.port, '127.0.0.1'), this);
    this.all.add(conn);
    return conn;
  }

  /** Closes the idle connections, or with `all` every one (abandoning what is in flight). */
  close(all = false): void {
    if (all) this.waiting.length = 0;
    for (const c of all ? [...this.all] : this.idle) c.abandon();
  }
}

class Conn {
  private current = -1;
  private head: Buffer | undefined;
  /** Body bytes still to come for the current response, once its head is in. */
  private remaining = -1;
  private status = 0;
  constructor(
    readonly socket: net.Socket,
    private readonly pool: Connections,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.data(chunk));
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      if (this.current !== -1) this.done(false);
      pool.closed(this);
    });
  }

  /** Closes the connection without an answer for what it carries (already counted by the caller). */
  abandon(): void {
    this.current = -1;
    this.socket.destroy();
  }

  send(i: number, request: Buffer): void {
    this.current = i;
    this.socket.write(request);
  }

  private data(chunk: Buffer): void {
    if (this.remaining === -1) {
      const buf = this.head === undefined ? chunk : Buffer.concat([this.head, chunk]);
      const end = buf.indexOf('\r\n\r\n');
      if (end === -1) {
        this.head = buf;
        return;
      }
      this.head = undefined;
      const head = buf.toString('latin1', 0, end).toLowerCase();
      const cl = head.indexOf('\r\ncontent-length:');
      if (this.current === -1 || !head.startsWith('http/1.1 ') || cl === -1) {
        // Nothing asked, or nothing this client reads (chunked, HTTP/1.0): an error, and a new connection.
        this.socket.destroy();
        return;
      }
      this.status = Number(head.slice(9, 12));
      this.remaining = Number.parseInt(head.slice(cl + 18), 10) - (buf.length - end - 4);
    } else {
      this.remaining -= chunk.length;
    }
    if (this.remaining === 0) {
      this.remaining = -1;
      this.done(this.status === 200);
      this.pool.release(this);
    } else if (this.remaining < 0) {
      this.socket.destroy();
    }
  }

  private done(ok: boolean): void {
    const i = this.current;
    this.current = -1;
    this.pool.finish(i, ok);
  }
}

/** `seconds` at the rate on `pool`. */
async function run(spec: LoadSpec, seconds: number, pool: Connections): Promise<OpenLoopResult> {
  const total = Math.round(spec.rate * seconds);
  const latencies = new Float64Array(total);
  const lags = new Float64Array(total);
  const intervalNs = 1e9 / spec.rate;
  // Starts a few ms ahead so the clock thread is up before the first due time.
  const startNs = Number(process.hrtime.bigint()) + 20e6;
  let done = 0;
  let errors = 0;
  let sent = 0;
  const answered = new Uint8Array(total);
  let timer: NodeJS.Timeout | undefined;
  const finished = new Promise<void>((resolve) => {
    pool.finish = (i, ok) => {
      if (answered[i] === 1) return;
      answered[i] = 1;
      latencies[i] = (Number(process.hrtime.bigint()) - (startNs + i * intervalNs)) / 1e6;
      if (!ok) errors++;
      if (++done === total) resolve();
    };
    // A target that stops answering must not hang the bench: ANSWER_TIMEOUT_S after the last due time,
    // whatever is unanswered is an error, its latency counted until now (a lower bound).
    timer = setTimeout(() => {
      for (let i = 0; i < total; i++) if (answered[i] === 0) pool.finish(i, false);
      pool.close(true);
    }, (seconds + ANSWER_TIMEOUT_S) * 1000 + 20);
  });
  const clockThread = new Worker(new URL(import.meta.url), { workerData: { startNs, intervalNs, total } satisfies ClockData });
  // Each message says request `due` is due; whatever else is due by now goes too (a late wake-up).
  clockThread.on('message', (due: number) => {
    const now = Number(process.hrtime.bigint());
    while (sent <= due || (sent < total && startNs + sent * intervalNs <= now)) {
      lags[sent] = (now - (startNs + sent * intervalNs)) / 1e6;
      pool.send(sent++);
    }
  });
  await finished;
  clearTimeout(timer);
  await clockThread.terminate();
  const elapsed = (Number(process.hrtime.bigint()) - startNs) / 1e9;
  lags.sort();
  return {
    requests: total,
    seconds: elapsed,
    errors,
    sorted: Array.from(latencies.sort()),
    send_lag_p50_ms: lags[Math.floor(total / 2)] ?? 0,
    send_lag_max_ms: lags[total - 1] ?? 0,
  };
}

async function main(spec: LoadSpec): Promise<void> {
  const pool = new Connections(spec.port, Buffer.from(`GET ${spec.path} HTTP/1.1\r\nHost: bench\r\n\r\n`, 'latin1'), spec.connections);
  if (spec.warmup > 0) await run(spec, spec.warmup, pool);
  const lines = createInterface({ input: process.stdin });
  lines.once('close', () => process.exit());
  process.stdout.write('ready\n');
  await new Promise((resolve) => lines.once('line', resolve));
  process.stdout.write(JSON.stringify(await run(spec, spec.seconds, pool)) + '\n');
  pool.close();
}

if (!isMainThread) {
  clock(workerData as ClockData);
} else {
  main(JSON.parse(process.argv[2] ?? '') as LoadSpec).catch((err: unknown) => {
    process.stderr.write(`open-loop: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
