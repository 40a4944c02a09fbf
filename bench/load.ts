// The two load generators: wrk (closed loop, max throughput) with a Lua `done` hook for exact percentiles,
// and a Node open-loop generator (fixed rate, latency measured from each request's intended send time).
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Pool } from 'undici';
import { cpuMs } from './proc.js';

export interface LoadResult {
  requests: number;
  seconds: number;
  rps: number;
  p50_ms: number;
  p90_ms: number;
  p99_ms: number;
  p999_ms: number;
  errors: number;
  /** The load generator's own CPU, in % of one core. */
  loadgen_cpu_pct: number;
}

const WRK_SCRIPT = `
wrk.headers["Host"] = "bench"
done = function(summary, latency, requests)
  local e = summary.errors
  io.stderr:write(string.format("errors connect %d read %d write %d status %d timeout %d\\n", e.connect, e.read, e.write, e.status, e.timeout))
  io.write(string.format("BENCH %d %d %d %d %d %d %d\\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    e.connect + e.read + e.write + e.status + e.timeout))
end
`;

export function writeWrkScript(dir: string): string {
  const path = join(dir, 'bench.lua');
  writeFileSync(path, WRK_SCRIPT);
  return path;
}

/** wrk -t1 -cN -dS on core 1 (bench/README.md's pinning). */
export function runWrk(opts: { url: string; connections: number; seconds: number; script: string; core: string }): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'taskset',
      ['-c', opts.core, 'wrk', '-t1', `-c${opts.connections}`, `-d${opts.seconds}s`, '--timeout', '5s', '-s', opts.script, opts.url],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    // wrk's CPU, sampled until it exits (the last sample misses at most 100 ms of it).
    let lastCpu = 0;
    const sampler = setInterval(() => {
      if (child.pid !== undefined) lastCpu = Math.max(lastCpu, cpuMs([child.pid]));
    }, 100);
    child.on('error', (e) => {
      clearInterval(sampler);
      reject(e);
    });
    child.on('close', (code) => {
      clearInterval(sampler);
      const m = /BENCH (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)/.exec(out);
      // BENCH_DEBUG=1: wrk's error breakdown (connect, read, write, non-2xx/3xx status, timeout) on stderr.
      if (process.env['BENCH_DEBUG'] !== undefined) process.stderr.write(err);
      if (code !== 0 || !m) return reject(new Error(`wrk failed (exit ${code}): ${err || out}`));
      const [requests, durationUs, p50, p90, p99, p999, errors] = m.slice(1).map(Number) as [number, number, number, number, number, number, number];
      const seconds = durationUs / 1e6;
      resolve({
        requests,
        seconds,
        rps: requests / seconds,
        p50_ms: p50 / 1000,
        p90_ms: p90 / 1000,
        p99_ms: p99 / 1000,
        p999_ms: p999 / 1000,
        errors,
        loadgen_cpu_pct: (lastCpu / 10 / seconds),
      });
    });
  });
}

/**
 * Open loop: request i is due at start + i/rate, whatever happened to the ones before it; its latency runs
 * from that due time to the end of its response, so a stall shows in every request it delays
 * (no coordinated omission). Runs in this process, which the runner pins to the load core.
 */
export async function runOpenLoop(opts: { origin: string; path: string; rate: number; seconds: number; connections: number; spin: boolean }): Promise<LoadResult> {
  const pool = new Pool(opts.origin, { connections: opts.connections, pipelining: 1 });
  const total = Math.round(opts.rate * opts.seconds);
  const latencies = new Float64Array(total);
  const intervalNs = 1e9 / opts.rate;
  let done = 0;
  let errors = 0;
  const cpuStart = process.cpuUsage();
  const start = process.hrtime.bigint();
  const startNs = Number(start);
  let sent = 0;
  let inFlight = 0;
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  await new Promise<void>((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    let immediate = false;
    const schedule = (): void => {
      if (!immediate) {
        immediate = true;
        setImmediate(() => {
          immediate = false;
          tick();
        });
      }
    };
    const finish = (i: number, ok: boolean): void => {
      latencies[i] = (Number(process.hrtime.bigint()) - (startNs + i * intervalNs)) / 1e6;
      if (!ok) errors++;
      inFlight--;
      if (++done === total) {
        clearTimeout(timer);
        resolve();
      } else if (inFlight === 0) {
        schedule();
      }
    };
    const send = (i: number): void => {
      inFlight++;
      pool.request({ method: 'GET', path: opts.path, headers: { host: 'bench' } }).then(
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
    // spin (the default): the loop turns with setImmediate, so sends and response timestamps are within
    // microseconds of their time; it takes the load core (the upstream still gets it when woken: direct
    // measures ~0.03 ms p50 / ~0.2 ms p99 this way, the generator's floor). Without spin: with nothing in
    // flight the loop sleeps in Atomics.wait (sub-millisecond) until the next due time; with requests in
    // flight it waits on their sockets, and a timer (1 ms resolution) covers a due time that passes
    // meanwhile; idle cores add wake-up latency (~0.1 ms on direct) to every target. A late send still
    // counts from its due time.
    const tick = (): void => {
      clearTimeout(timer);
      timer = undefined;
      let now = Number(process.hrtime.bigint()) - startNs;
      if (!opts.spin && inFlight === 0 && sent < total && sent * intervalNs > now) {
        Atomics.wait(sleeper, 0, 0, (sent * intervalNs - now) / 1e6);
        now = Number(process.hrtime.bigint()) - startNs;
      }
      while (sent < total && sent * intervalNs <= now) send(sent++);
      if (sent < total && (opts.spin || inFlight === 0)) schedule();
      else if (sent < total) timer = setTimeout(tick, Math.max(0, Math.floor((sent * intervalNs - now) / 1e6)));
    };
    tick();
  });
  const elapsed = (Number(process.hrtime.bigint()) - startNs) / 1e9;
  const cpu = process.cpuUsage(cpuStart);
  await pool.close();
  const sorted = Array.from(latencies).sort((a, b) => a - b);
  const pct = (p: number): number => nearestRank(sorted, p / 100);
  return {
    requests: total,
    seconds: elapsed,
    rps: total / elapsed,
    p50_ms: pct(50),
    p90_ms: pct(90),
    p99_ms: pct(99),
    p999_ms: pct(99.9),
    errors,
    loadgen_cpu_pct: (cpu.user + cpu.system) / 1e4 / elapsed,
  };
}

/** The nearest-rank `q` quantile (0-1) of ascending `sorted`; 0 when empty. */
export function nearestRank(sorted: ArrayLike<number>, q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? 0;
}
