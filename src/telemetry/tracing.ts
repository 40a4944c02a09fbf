// Spans for sampled requests only: a SERVER span per inbound request and a CLIENT span per outbound one,
// exported over OTLP/HTTP in batches from a bounded queue (a dead collector costs dropped spans, counted,
// never memory or latency), and the most recent kept for /traces. The OpenTelemetry SDK (otel-sdk.ts,
// ~15 MB resident with its exporter) is loaded only once this sidecar may record a span: its sampling
// percentage is above 0, an exporter is set, or a caller sent a sampled request.
import { SpanKind, type Span } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type { ParentContext } from './trace-context.js';
import type { OtelSdk } from './otel-sdk.js';

/** Where spans go: an OTLP/HTTP traces URL, the standard OTEL_EXPORTER_OTLP_* variables, or nowhere (memory only). */
export type ExportTarget = { readonly kind: 'url'; readonly url: string } | { readonly kind: 'env' } | { readonly kind: 'none' };

export interface TracingOptions {
  /** This sidecar's service: the spans' `service.name`. */
  readonly serviceName: string;
  readonly target: ExportTarget;
}

/**
 * `--otlp-endpoint` as OpenTelemetry reads OTEL_EXPORTER_OTLP_ENDPOINT: a collector's base URL gets
 * `/v1/traces`; a URL with a path is used as it is. Without the flag, the standard variables decide.
 */
export function exportTarget(flag: string | undefined, env: NodeJS.ProcessEnv): ExportTarget {
  if (flag !== undefined) {
    const url = new URL(flag);
    if (url.pathname === '/' || url.pathname === '') url.pathname = '/v1/traces';
    return { kind: 'url', url: url.toString() };
  }
  if ((env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'] ?? env['OTEL_EXPORTER_OTLP_ENDPOINT'] ?? '') !== '') return { kind: 'env' };
  return { kind: 'none' };
}

export class Tracing {
  private sdk: OtelSdk | undefined = undefined;
  private loading: Promise<void> | undefined = undefined;
  /** The last ended spans, oldest first: what /traces shows. */
  readonly recent: ReadableSpan[] = [];

  constructor(private readonly opts: TracingOptions) {}

  /** Whether spans are exported (else only kept for /traces). */
  get exporting(): boolean {
    return this.opts.target.kind !== 'none';
  }

  /** Loads the SDK (once); the sidecar calls it when a config can sample. */
  enable(): Promise<void> {
    this.loading ??= import('./otel-sdk.js').then((m) => {
      this.sdk = new m.OtelSdk(this.opts.serviceName, this.opts.target, this.recent);
    });
    return this.loading;
  }

  get dropped(): number {
    return this.sdk?.processor.dropped ?? 0;
  }

  get exported(): number {
    return this.sdk?.processor.exported ?? 0;
  }

  /** A span for a request decided to be sampled; undefined while the SDK is still loading (it is asked to). */
  start(kind: 'server' | 'client', name: string, parent: ParentContext | undefined, startMs: number): Span | undefined {
    if (this.sdk === undefined) {
      void this.enable();
      return undefined;
    }
    return this.sdk.start(kind, name, parent, startMs);
  }

  /** /traces: the recent spans, newest first; only those of one trace when `traceId` is given. */
  view(traceId: string | undefined): object {
    const spans = traceId === undefined ? this.recent : this.recent.filter((s) => s.spanContext().traceId === traceId);
    return {
      exported: this.exported,
      dropped: this.dropped,
      spans: spans.map((s) => ({
        trace_id: s.spanContext().traceId,
        span_id: s.spanContext().spanId,
        parent_span_id: s.parentSpanContext?.spanId,
        name: s.name,
        kind: SpanKind[s.kind],
        start_time: new Date(hrMs(s.startTime)).toISOString(),
        duration_ms: hrMs(s.duration),
        status: s.status.code,
        attributes: s.attributes,
      })).reverse(),
    };
  }

  async shutdown(): Promise<void> {
    await this.loading;
    await this.sdk?.shutdown();
  }
}

/** OpenTelemetry's [seconds, nanoseconds] in milliseconds. */
const hrMs = (t: readonly [number, number]): number => t[0] * 1_000 + t[1] / 1e6;
