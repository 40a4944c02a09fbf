// The two load generators: wrk (closed loop, max throughput) with a Lua `done` hook for exact percentiles,
// and the open-loop generator (bench/open-loop.ts: fixed rate, latency from each request's due time).
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { cpuMs } from './proc.js';
import type { LoadSpec, OpenLoopResult } from './open-loop.js';

const OPEN_LOOP = fileURLToPath(new URL('./open-loop.js', import.meta.url));

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
  /** Open loop only: how late sends left after their due time (median, latest), in ms. */
  send_lag_p50_ms?: number;
  send_lag_max_ms?: number;
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

/** wrk -t1 -cN -dS on core 1 (BASELINE.md's pinning). */
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
 * The fixed-rate generator (bench/open-loop.ts) in its own process on `core`: its warm-up, then `begin()`
 * (the caller starts its own readings) and the measured run. Its CPU is read from /proc/PID/stat over
 * exactly that run (from its go to its result), in % of one core.
 */
export function runOpenLoop(spec: LoadSpec, core: string, begin: () => void): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('taskset', ['-c', core, process.execPath, OPEN_LOOP, JSON.stringify(spec)], { stdio: ['pipe', 'pipe', 'pipe'] });
    const lines = createInterface({ input: child.stdout });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    let cpuBefore = 0;
    let result: LoadResult | undefined;
    lines.on('line', (line) => {
      if (line === 'ready') {
        begin();
        cpuBefore = cpuMs([child.pid!]);
        child.stdin.write('go\n');
        return;
      }
      const r = JSON.parse(line) as OpenLoopResult;
      const cpu = cpuMs([child.pid!]) - cpuBefore;
      const pct = (p: number): number => nearestRank(r.sorted, p / 100);
      result = {
        requests: r.requests,
        seconds: r.seconds,
        rps: r.requests / r.seconds,
        p50_ms: pct(50),
        p90_ms: pct(90),
        p99_ms: pct(99),
        p999_ms: pct(99.9),
        errors: r.errors,
        loadgen_cpu_pct: cpu / 10 / r.seconds,
        send_lag_p50_ms: r.send_lag_p50_ms,
        send_lag_max_ms: r.send_lag_max_ms,
      };
      child.stdin.end();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (result !== undefined && code === 0) resolve(result);
      else reject(new Error(`open-loop generator failed (exit ${code}): ${err}`));
    });
  });
}

/** The nearest-rank `q` quantile (0-1) of ascending `sorted`; 0 when empty. */
export function nearestRank(sorted: ArrayLike<number>, q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? 0;
}
