// The sidecar's telemetry report: per edge (caller -> callee) the requests, errors, denials and latency
// buckets since the last report the control plane accepted. Read from the RED metrics every few seconds,
// never on the request path. Each call is counted once in the mesh: by the caller's sidecar, or by the
// callee's when the caller is `unknown` (it has no sidecar, or its sidecar runs without --service).
import { DURATION_BUCKETS, type MeshMetrics, type RequestSeries } from '../telemetry/mesh-metrics.js';
import type { Edge, TelemetryReport } from '../../control-plane/proto/index.js';

interface Reported {
  requests: number;
  sum: number;
  counts: Float64Array;
}

export class Reporter {
  private readonly reported = new Map<RequestSeries, Reported>();
  private lastAt = Date.now();

  constructor(private readonly metrics: MeshMetrics) {}

  /** The report since the last committed one; `commit()` once the control plane has it. */
  collect(): { report: TelemetryReport; commit(): void } {
    const now = Date.now();
    const edges = new Map<string, Edge>();
    const taken: [RequestSeries, Reported][] = [];
    for (const s of this.metrics.requestSeries()) {
      const r = s.route;
      // A sidecar without --service calls as `unknown`, which is how its callee's sidecar counts it too.
      if ((r.reporter === 'destination') !== (r.source === 'unknown')) continue;
      const before = this.reported.get(s);
      const requests = s.requests - (before?.requests ?? 0);
      if (requests === 0) continue;
      const key = `${r.source}\0${r.destination}`;
      let edge = edges.get(key);
      if (edge === undefined) {
        edge = {
          source: r.source, destination: r.destination, protocol: 'http', requests: 0, errors: 0, denied: 0,
          bucket_counts: new Array<number>(DURATION_BUCKETS.length + 1).fill(0), duration_sum_seconds: 0,
        };
        edges.set(key, edge);
      }
      edge.requests += requests;
      if (s.status >= 500 || s.status === 0) edge.errors += requests;
      if (s.flags.includes('UAEX')) edge.denied += requests;
      const d = s.duration;
      let finite = 0;
      for (let i = 0; i < d.counts.length; i++) {
        const n = d.counts[i]! - (before?.counts[i] ?? 0);
        edge.bucket_counts[i]! += n;
        finite += n;
      }
      edge.bucket_counts[DURATION_BUCKETS.length]! += requests - finite;
      edge.duration_sum_seconds += d.sum - (before?.sum ?? 0);
      taken.push([s, { requests: s.requests, sum: d.sum, counts: d.counts.slice() }]);
    }
    const report: TelemetryReport = {
      node: null, timestamp_ms: now, period_ms: now - this.lastAt, bucket_bounds: DURATION_BUCKETS, edges: [...edges.values()],
    };
    return {
      report,
      commit: () => {
        for (const [s, r] of taken) this.reported.set(s, r);
        this.lastAt = now;
      },
    };
  }
}
