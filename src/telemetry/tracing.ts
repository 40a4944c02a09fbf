// Spans for sampled requests only, with the OpenTelemetry SDK: a SERVER span per inbound request and a
// CLIENT span per outbound one, exported over OTLP/HTTP in batches from a bounded queue (a dead
// collector costs dropped spans, counted, never memory or latency), and the most recent kept for /traces.
import { ROOT_CONTEXT, SpanKind, TraceFlags, trace, type Span } from '@opentelemetry/api';
import { ExportResultCode, hrTimeToMilliseconds } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, type ReadableSpan, type SpanExporter, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { ParentContext } from './trace-context.js';

const MAX_QUEUE = 2_048;
const BATCH = 512;
const FLUSH_MS = 1_000;
const RECENT = 500;

/** Batches ended spans to an exporter; past MAX_QUEUE waiting spans, new ones are dropped and counted. */
class BoundedBatchProcessor implements SpanProcessor {
  dropped = 0;
  exported = 0;
  private queue: ReadableSpan[] = [];
  private inFlight = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly exporter: SpanExporter | undefined, private readonly recent: ReadableSpan[]) {
    this.timer = setInterval(() => this.flush(), FLUSH_MS);
    this.timer.unref();
  }

  onStart(): void {}

  onEnd(span: ReadableSpan): void {
    this.recent.push(span);
    if (this.recent.length > RECENT) this.recent.shift();
    if (this.exporter === undefined) return;
    if (this.queue.length >= MAX_QUEUE) {
      this.dropped++;
      return;
    }
    this.queue.push(span);
    if (this.queue.length >= BATCH) this.flush();
  }

  private flush(): Promise<void> {
    if (this.exporter === undefined || this.queue.length === 0 || this.inFlight >= 2) return Promise.resolve();
    const batch = this.queue.splice(0, BATCH);
    this.inFlight++;
    return new Promise((resolve) => {
      this.exporter!.export(batch, (result) => {
        this.inFlight--;
        if (result.code === ExportResultCode.SUCCESS) this.exported += batch.length;
        else this.dropped += batch.length;
        resolve();
      });
    });
  }

  async forceFlush(): Promise<void> {
    while (this.queue.length > 0 && this.inFlight < 2) await this.flush();
  }

  async shutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.forceFlush();
    await this.exporter?.shutdown();
  }
}

export interface TracingOptions {
  /** This sidecar's service: the spans' `service.name`. */
  readonly serviceName: string;
  /** OTLP/HTTP traces URL, e.g. http://collector:4318/v1/traces; undefined: in memory only. */
  readonly otlpEndpoint: string | undefined;
}

export class Tracing {
  private readonly provider: BasicTracerProvider;
  private readonly processor: BoundedBatchProcessor;
  private readonly tracer;
  /** The last RECENT ended spans, oldest first: what /traces shows. */
  readonly recent: ReadableSpan[] = [];

  constructor(opts: TracingOptions) {
    const exporter = opts.otlpEndpoint === undefined ? undefined : new OTLPTraceExporter({ url: opts.otlpEndpoint, timeoutMillis: 5_000 });
    this.processor = new BoundedBatchProcessor(exporter, this.recent);
    this.provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': opts.serviceName }),
      spanProcessors: [this.processor],
    });
    this.tracer = this.provider.getTracer('meshlight');
  }

  get dropped(): number {
    return this.processor.dropped;
  }

  get exported(): number {
    return this.processor.exported;
  }

  /** Starts a span for a request already decided to be sampled, as a child of `parent` when given. */
  start(kind: 'server' | 'client', name: string, parent: ParentContext | undefined, startMs: number): Span {
    const ctx = parent === undefined
      ? ROOT_CONTEXT
      : trace.setSpanContext(ROOT_CONTEXT, { traceId: parent.traceId, spanId: parent.spanId, traceFlags: TraceFlags.SAMPLED, isRemote: true });
    return this.tracer.startSpan(name, { kind: kind === 'server' ? SpanKind.SERVER : SpanKind.CLIENT, startTime: startMs }, ctx);
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
        start_time: new Date(hrTimeToMilliseconds(s.startTime)).toISOString(),
        duration_ms: hrTimeToMilliseconds(s.duration),
        status: s.status.code,
        attributes: s.attributes,
      })).reverse(),
    };
  }

  shutdown(): Promise<void> {
    return this.provider.shutdown();
  }
}
