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
// Protocol with bench/load.ts: argv is one JSON LoadSpec; the process prints `ready` once started, runs
// when a line arrives on stdin, prints one JSON OpenLoopResult, and exits when stdin closes (so the parent
// reads its CPU from /proc over exactly the run).
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { createInterface } from 'node:readline';
import { Pool } from 'undici';

export interface LoadSpec {
  origin: string;
  path: string;
  rate: number;
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

async function run(spec: LoadSpec): Promise<OpenLoopResult> {
  const pool = new Pool(spec.origin, { connections: spec.connections, pipelining: 1 });
  const total = Math.round(spec.rate * spec.seconds);
  const latencies = new Float64Array(total);
  const lags = new Float64Array(total);
  const intervalNs = 1e9 / spec.rate;
  // Starts a few ms ahead so the clock thread is up before the first due time.
  const startNs = Number(process.hrtime.bigint()) + 20e6;
  let done = 0;
  let errors = 0;
  let sent = 0;
  await new Promise<void>((resolve) => {
    const clockThread = new Worker(new URL(import.meta.url), { workerData: { startNs, intervalNs, total } satisfies ClockData });
    const finish = (i: number, ok: boolean): void => {
      latencies[i] = (Number(process.hrtime.bigint()) - (startNs + i * intervalNs)) / 1e6;
      if (!ok) errors++;
      if (++done === total) {
        void clockThread.terminate();
        resolve();
      }
    };
    const send = (i: number, now: number): void => {
      lags[i] = (now - (startNs + i * intervalNs)) / 1e6;
      pool.request({ method: 'GET', path: spec.path, headers: { host: 'bench' } }).then(
        (res) => {
          const ok = res.statusCode === 200;
          res.body.dump().then(
            () => finish(i, ok),
            () => finish(i, false),
          );
        },
        () => finish(i, false),
      );
    };
    // Each message says request `due` is due; whatever else is due by now goes too (a late wake-up).
    clockThread.on('message', (due: number) => {
      const now = Number(process.hrtime.bigint());
      while (sent <= due || (sent < total && startNs + sent * intervalNs <= now)) send(sent++, now);
    });
  });
  const seconds = (Number(process.hrtime.bigint()) - startNs) / 1e9;
  await pool.close();
  lags.sort();
  return {
    requests: total,
    seconds,
    errors,
    sorted: Array.from(latencies.sort()),
    send_lag_p50_ms: lags[Math.floor(total / 2)] ?? 0,
    send_lag_max_ms: lags[total - 1] ?? 0,
  };
}

if (!isMainThread) {
  clock(workerData as ClockData);
} else {
  const spec = JSON.parse(process.argv[2] ?? '') as LoadSpec;
  const lines = createInterface({ input: process.stdin });
  process.stdout.write('ready\n');
  let started = false;
  lines.on('line', () => {
    if (started) return;
    started = true;
    run(spec).then(
      (result) => process.stdout.write(JSON.stringify(result) + '\n'),
      (err: unknown) => {
        process.stderr.write(`open-loop: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exitCode = 1;
      },
    );
  });
  lines.on('close', () => process.exit());
}
