// The RED metrics of docs/contract.md section 5, kept in plain counters whose label text is built once per
// label set (prom-client hashes a label object on every observe, too much for every request), and
// rendered as Prometheus text or OpenMetrics (with trace_id exemplars) only when scraped, a slice at a
// time so that a scrape never holds the data path for long.
import { setImmediate as nextTurn } from 'node:timers/promises';

/** Seconds: 0.5 ms .. 30 s. */
export const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** Bytes: 100 B .. 100 MB. */
export const SIZE_BUCKETS = [100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000];
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'CONNECT', 'TRACE']);
/**
 * The series budget. The route labels (reporter, source, destination, route) come from the config, so
 * each route keeps them; what callers and upstreams influence (method, response code, flags) is
 * budgeted: past MAX_OUTCOMES_PER_ROUTE outcomes on one route, or MAX_SERIES series in all, a new
 * outcome is counted in its route's folded series, `method="OTHER"` and the code's class
 * (`response_code="5xx"`). So the exposition stays bounded (about 10 KB a series) and no route's calls
 * are ever counted under another's labels.
 */
export const MAX_SERIES = 2_000;
export const MAX_OUTCOMES_PER_ROUTE = 64;
/** Series rendered between two turns of the event loop: a slice takes about a millisecond. */
const RENDER_SLICE = 100;

export type Reporter = 'source' | 'destination';

function escape(v: string): string {
  return v.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`));
}

interface Exemplar {
  traceId: string;
  value: number;
  timeSec: number;
}

class Histogram {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  exemplars: (Exemplar | undefined)[] | undefined = undefined;

  constructor(readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length);
  }

  /** Returns the bucket index (bounds.length for +Inf). */
  observe(v: number): number {
    this.sum += v;
    this.count++;
    const b = this.bounds;
    let i = 0;
    while (i < b.length && v > b[i]!) i++;
    if (i < b.length) this.counts[i]!++;
    return i;
  }

  render(out: string[], name: string, labels: string, openMetrics: boolean): void {
    let acc = 0;
    for (let i = 0; i <= this.bounds.length; i++) {
      acc += i < this.bounds.length ? this.counts[i]! : 0;
      const le = i < this.bounds.length ? String(this.bounds[i]) : '+Inf';
      const n = i < this.bounds.length ? acc : this.count;
      const ex = openMetrics ? this.exemplars?.[i] : undefined;
      const suffix = ex === undefined ? '' : ` # {trace_id="${ex.traceId}"} ${ex.value} ${ex.timeSec}`;
      out.push(`${name}_bucket{${labels},le="${le}"} ${n}${suffix}`);
    }
    out.push(`${name}_sum{${labels}} ${this.sum}`, `${name}_count{${labels}} ${this.count}`);
  }
}

/** One full label set: what one request increments. */
export class RequestSeries {
  requests = 0;
  readonly duration = new Histogram(DURATION_BUCKETS);
  readonly requestBytes = new Histogram(SIZE_BUCKETS);
  readonly responseBytes = new Histogram(SIZE_BUCKETS);

  constructor(
    readonly labels: string,
    /** What the control-plane report groups by. */
    readonly route: RouteSeries,
    readonly status: number,
    readonly flags: string,
  ) {}

  record(seconds: number, bytesIn: number, bytesOut: number, traceId: string | undefined): void {
    this.requests++;
    const i = this.duration.observe(seconds);
    this.requestBytes.observe(bytesIn);
    this.responseBytes.observe(bytesOut);
    if (traceId !== undefined) {
      const ex = (this.duration.exemplars ??= new Array<Exemplar | undefined>(DURATION_BUCKETS.length + 1));
      ex[i] = { traceId, value: seconds, timeSec: Date.now() / 1000 };
    }
  }
}

/**
 * The fixed part of the labels (reporter, source, destination, route), made when a plan is built; the
 * per-request part (method, code, flags) picks a series from a small map.
 */
export class RouteSeries {
  private readonly byOutcome = new Map<string, RequestSeries>();
  /** Outcomes past the budget, by `class flags`. */
  private readonly folded = new Map<string, RequestSeries>();

  constructor(
    private readonly metrics: MeshMetrics,
    private readonly prefix: string,
    readonly reporter: Reporter,
    readonly source: string,
    readonly destination: string,
  ) {}

  get(method: string, status: number, flags: string): RequestSeries {
    const m = METHODS.has(method) ? method : 'OTHER';
    const key = `${m} ${status} ${flags}`;
    let s = this.byOutcome.get(key);
    if (s !== undefined) return s;
    if (this.byOutcome.size >= MAX_OUTCOMES_PER_ROUTE || !this.metrics.hasRoom()) return this.fold(status, flags);
    s = this.metrics.series(this.labels(m, String(status), flags), this, status, flags);
    this.byOutcome.set(key, s);
    return s;
  }

  private fold(status: number, flags: string): RequestSeries {
    const cls = status === 0 ? 0 : Math.floor(status / 100);
    const key = `${cls} ${flags}`;
    let s = this.folded.get(key);
    if (s === undefined) {
      s = this.metrics.series(this.labels('OTHER', cls === 0 ? '0' : `${cls}xx`, flags), this, cls * 100, flags);
      this.folded.set(key, s);
    }
    return s;
  }

  private labels(method: string, code: string, flags: string): string {
    return `${this.prefix},method="${method}",response_code="${code}",grpc_status="",response_flags="${flags === '' ? '-' : escape(flags)}"`;
  }
}

export class MeshMetrics {
  private readonly all = new Map<string, RequestSeries>();
  private readonly routes = new Map<string, RouteSeries>();
  readonly tcpOpened = new Map<string, number>();
  readonly tcpClosed = new Map<string, number>();

  /** Kept across config reloads: counters never go back while the process lives. */
  route(reporter: Reporter, source: string, destination: string, route: string): RouteSeries {
    const prefix = `reporter="${reporter}",source_service="${escape(source)}",destination_service="${escape(destination)}",route="${escape(route)}"`;
    let r = this.routes.get(prefix);
    if (r === undefined) {
      r = new RouteSeries(this, prefix, reporter, source, destination);
      this.routes.set(prefix, r);
    }
    return r;
  }

  /** Whether a new outcome may have a series of its own (else it folds, see MAX_SERIES). */
  hasRoom(): boolean {
    return this.all.size < MAX_SERIES;
  }

  /** A route's series of these labels (an exact outcome or a folded one), made once. */
  series(labels: string, route: RouteSeries, status: number, flags: string): RequestSeries {
    let s = this.all.get(labels);
    if (s === undefined) {
      s = new RequestSeries(labels, route, status, flags);
      this.all.set(labels, s);
    }
    return s;
  }

  /** Every series, for the control-plane report. */
  requestSeries(): Iterable<RequestSeries> {
    return this.all.values();
  }

  /** `labels` is a preformatted label set, e.g. `reporter="destination",destination_service="orders"`. */
  connectionOpened(labels: string): void {
    this.tcpOpened.set(labels, (this.tcpOpened.get(labels) ?? 0) + 1);
  }

  connectionClosed(labels: string): void {
    this.tcpClosed.set(labels, (this.tcpClosed.get(labels) ?? 0) + 1);
  }

  /**
   * The exposition, in chunks of RENDER_SLICE series: one turn of the event loop each, so requests keep
   * flowing during a scrape, and no single string or write of the whole (up to MAX_SERIES series) is made.
   */
  async render(openMetrics: boolean): Promise<string[]> {
    const series = [...this.all.values()];
    const chunks: string[] = [];
    let out: string[] = [];
    const flush = (): void => {
      if (out.length > 0) chunks.push(`${out.join('\n')}\n`);
      out = [];
    };
    const family = (name: string, type: string, help: string): void => {
      // OpenMetrics names a counter family without its _total suffix.
      out.push(`# HELP ${openMetrics && type === 'counter' ? name.replace(/_total$/, '') : name} ${help}`);
      out.push(`# TYPE ${openMetrics && type === 'counter' ? name.replace(/_total$/, '') : name} ${type}`);
    };
    const each = async (render: (s: RequestSeries) => void): Promise<void> => {
      for (let i = 0; i < series.length; i++) {
        if (i > 0 && i % RENDER_SLICE === 0) {
          flush();
          await nextTurn();
        }
        render(series[i]!);
      }
    };
    family('mesh_requests_total', 'counter', 'Requests seen by this sidecar, by reporter side.');
    await each((s) => out.push(`mesh_requests_total{${s.labels}} ${s.requests}`));
    family('mesh_request_duration_seconds', 'histogram', 'Request duration, first byte in to last byte out.');
    await each((s) => s.duration.render(out, 'mesh_request_duration_seconds', s.labels, openMetrics));
    family('mesh_request_bytes', 'histogram', 'Request body sizes.');
    await each((s) => s.requestBytes.render(out, 'mesh_request_bytes', s.labels, false));
    family('mesh_response_bytes', 'histogram', 'Response body sizes.');
    await each((s) => s.responseBytes.render(out, 'mesh_response_bytes', s.labels, false));
    family('mesh_tcp_connections_opened_total', 'counter', 'Downstream connections accepted.');
    for (const [l, n] of this.tcpOpened) out.push(`mesh_tcp_connections_opened_total{${l}} ${n}`);
    family('mesh_tcp_connections_closed_total', 'counter', 'Downstream connections closed.');
    for (const [l, n] of this.tcpClosed) out.push(`mesh_tcp_connections_closed_total{${l}} ${n}`);
    flush();
    return chunks;
  }
}
