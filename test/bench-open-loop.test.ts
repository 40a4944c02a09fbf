// The bench's fixed-rate generator (bench/open-loop.ts, in its own process) against real upstreams on
// loopback: it keeps its schedule whatever the upstream does, and a stall counts in every request it delays.
import { describe, expect, it } from 'vitest';
import { startUpstream } from './helpers/net.js';

// The built bench (pretest builds it): the generator runs as dist/bench/open-loop.js beside it.
const { runOpenLoop } = (await import('../dist/bench/load.js' as string)) as typeof import('../bench/load.js');

describe('the bench fixed-rate generator', () => {
  it('sends at the rate and counts a stall in every request due during it (no coordinated omission)', async () => {
    // From 400 ms into the run, the upstream holds every response until 800 ms: 200 requests (at 500/s),
    // 20% of all, are due while nothing answers, and each must show the stall from its due time on.
    let first = 0;
    const up = await startUpstream('stall', (_req, res) => {
      const now = Date.now();
      if (first === 0) first = now;
      const hold = now - first >= 400 && now - first < 800 ? first + 800 - now : 0;
      setTimeout(() => res.end('x'.repeat(100)), hold);
    });
    try {
      let begun = false;
      const r = await runOpenLoop({ port: up.port, path: '/', rate: 500, warmup: 0, seconds: 2, connections: 64 }, '0', () => (begun = true));
      expect(begun).toBe(true);
      expect(r.requests).toBe(1000);
      expect(r.errors).toBe(0);
      expect(r.rps).toBeGreaterThan(450);
      expect(r.rps).toBeLessThanOrEqual(501);
      // Latencies of the stalled 20% spread over 0-400 ms, so p90 is ~200 ms. Timed from each send instead,
      // only the 64 requests on held connections (6%) would show the stall, and p90 would be ~0.
      expect(r.p90_ms).toBeGreaterThan(100);
      expect(r.p50_ms).toBeLessThan(50);
      expect(up.seen.length).toBe(1000);
    } finally {
      await up.close();
    }
  }, 30_000);

  it('ends on time when the target stops answering: what is unanswered 5 s after its due time is an error', async () => {
    let n = 0;
    // Every 10th request is never answered.
    const up = await startUpstream('hangs', (_req, res) => {
      if (++n % 10 !== 0) res.end('ok');
    });
    try {
      const started = Date.now();
      const r = await runOpenLoop({ port: up.port, path: '/', rate: 100, warmup: 0, seconds: 1, connections: 64 }, '0', () => {});
      expect(r.requests).toBe(100);
      expect(r.errors).toBe(10);
      expect(r.p99_ms).toBeGreaterThan(4_000);
      expect(Date.now() - started).toBeLessThan(15_000);
    } finally {
      up.server.closeAllConnections();
      await up.close();
    }
  }, 30_000);

  it('counts answers other than 200, and answers it cannot read, as errors', async () => {
    let n = 0;
    const up = await startUpstream('mixed', (_req, res) => {
      n++;
      if (n % 4 === 0) res.writeHead(503).end('no');
      // A chunked answer (no Content-Length): the generator reads only what the bench's upstreams send.
      else if (n % 4 === 1) res.writeHead(200).write('chunk', () => res.end());
      else res.end('ok');
    });
    try {
      const r = await runOpenLoop({ port: up.port, path: '/', rate: 200, warmup: 0, seconds: 1, connections: 16 }, '0', () => {});
      expect(r.requests).toBe(200);
      expect(r.errors).toBe(100);
    } finally {
      await up.close();
    }
  }, 30_000);
});
