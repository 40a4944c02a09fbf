// The graph from Prometheus (`--prometheus-url`): PromQL over the sidecars' mesh_requests_total and
// mesh_request_duration_seconds, so it scales with Prometheus rather than with the control plane's memory.
// The range of every rate is the window itself; a window under about 4 scrape intervals has too few
// samples per series and comes out empty or jumpy, as any Grafana panel over such a range would.
import { assembleGraph, formatDuration, type EdgeTotals, type Percentiles } from './assemble.js';
import type { Graph, GraphSource } from './types.js';

interface PromSample {
  metric: Record<string, string>;
  value: [number, string];
}

interface PromAnswer {
  status?: string;
  errorType?: string;
  error?: string;
  data?: { resultType: string; result: PromSample[] };
}

const EDGE_BY = 'source_service, destination_service';
const QUANTILES = [0.5, 0.95, 0.99] as const;

/**
 * Each call counted once, as the sidecars' own reports count it (src/mesh-client/reporter.ts): by the
 * caller's sidecar, or by the callee's when the caller is `unknown` (no sidecar, or one without
 * --service). `fn` is a range function such as `increase`.
 */
function counted(fn: string, metric: string, matchers: string, range: string): string {
  const extra = matchers === '' ? '' : `,${matchers}`;
  return `${fn}(${metric}{reporter="source",source_service!="unknown"${extra}}[${range}]) or ${fn}(${metric}{reporter="destination",source_service="unknown"${extra}}[${range}])`;
}

export class PrometheusGraph implements GraphSource {
  private readonly base: string;

  /** `baseUrl`: where Prometheus's HTTP API is, e.g. `http://127.0.0.1:9090`. */
  constructor(baseUrl: string, private readonly timeoutMs = 10_000) {
    this.base = new URL(baseUrl).href.replace(/\/+$/, '');
  }

  async graph(windowMs: number, endMs?: number): Promise<Graph> {
    const range = formatDuration(windowMs);
    const now = endMs ?? Date.now();
    const count = (matchers: string): string => `sum by (${EDGE_BY}) (${counted('increase', 'mesh_requests_total', matchers, range)})`;
    const latency = (q: number, by: string): string =>
      `histogram_quantile(${q}, sum by (le, ${by}) (${counted('rate', 'mesh_request_duration_seconds_bucket', '', range)}))`;
    const [requests, errors, denied, grpc, edgeQ, nodeQ] = await Promise.all([
      this.query(count(''), endMs),
      this.query(count('response_code=~"5..|0"'), endMs),
      this.query(count('response_flags="UAEX"'), endMs),
      this.query(count('grpc_status!=""'), endMs),
      Promise.all(QUANTILES.map((q) => this.query(latency(q, EDGE_BY), endMs))),
      Promise.all(QUANTILES.map((q) => this.query(latency(q, 'destination_service'), endMs))),
    ]);
    const edgeKey = (m: Record<string, string>): string => `${m['source_service'] ?? ''}\n${m['destination_service'] ?? ''}`;
    const errorsBy = byKey(errors, edgeKey);
    const deniedBy = byKey(denied, edgeKey);
    const grpcBy = byKey(grpc, edgeKey);
    const edgeLatency = percentilesBy(edgeQ, edgeKey);
    const totals: EdgeTotals[] = [];
    for (const s of requests) {
      const n = sampleValue(s);
      if (n <= 0) continue; // a series that exists but saw no call in the window is no edge
      const key = edgeKey(s.metric);
      totals.push({
        source: s.metric['source_service'] ?? '', target: s.metric['destination_service'] ?? '',
        protocol: (grpcBy.get(key) ?? 0) > 0 ? 'grpc' : 'http',
        requests: n, errors: errorsBy.get(key) ?? 0, denied: deniedBy.get(key) ?? 0,
        latency: edgeLatency.get(key) ?? { p50: 0, p95: 0, p99: 0 },
      });
    }
    return assembleGraph(totals, percentilesBy(nodeQ, (m) => m['destination_service'] ?? ''), windowMs, now);
  }

  /** An instant query (now, or at `atMs`); throws an Error naming this Prometheus and, when it answered, its PromQL error. */
  async query(promql: string, atMs?: number): Promise<PromSample[]> {
    const url = `${this.base}/api/v1/query?query=${encodeURIComponent(promql)}${atMs === undefined ? '' : `&time=${atMs / 1000}`}`;
    let res: Response;
    try {
      res = await fetch(url, { signal: AbortSignal.timeout(this.timeoutMs), headers: { accept: 'application/json' } });
    } catch (err) {
      const cause = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
      throw new Error(`Prometheus at ${this.base} is unreachable: ${cause}`, { cause: err });
    }
    const text = await res.text();
    let doc: PromAnswer | undefined;
    try {
      doc = JSON.parse(text) as PromAnswer;
    } catch {
      doc = undefined;
    }
    if (doc?.status === 'success' && doc.data !== undefined) return doc.data.result;
    const why = doc?.error !== undefined ? `${doc.errorType ?? 'error'}: ${doc.error}` : `HTTP ${res.status} ${text.slice(0, 200).trim()}`;
    throw new Error(`Prometheus at ${this.base} failed the query ${promql}: ${why}`);
  }
}

/** Prometheus sends NaN (a quantile of no observations) and Inf as strings; the graph shows them as 0. */
function sampleValue(s: PromSample): number {
  const v = Number(s.value[1]);
  return Number.isFinite(v) ? v : 0;
}

function byKey(samples: readonly PromSample[], key: (m: Record<string, string>) => string): Map<string, number> {
  return new Map(samples.map((s) => [key(s.metric), sampleValue(s)]));
}

function percentilesBy(answers: readonly PromSample[][], key: (m: Record<string, string>) => string): Map<string, Percentiles> {
  const [p50, p95, p99] = answers.map((a) => byKey(a, key));
  const out = new Map<string, Percentiles>();
  for (const k of p50!.keys()) out.set(k, { p50: p50!.get(k) ?? 0, p95: p95!.get(k) ?? 0, p99: p99!.get(k) ?? 0 });
  return out;
}
