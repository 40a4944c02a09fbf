// The OpenTelemetry SDK part of tracing, loaded only once a sidecar may record a span (tracing.ts):
// a bounded batch processor in front of the OTLP/HTTP exporter, and the most recent spans for /traces.
import { ROOT_CONTEXT, SpanKind, TraceFlags, trace, type Span } from '@opentelemetry/api';
import { ExportResultCode } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, type ReadableSpan, type SpanExporter, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { ParentContext } from './trace-context.js';
import type { ExportTarget } from './tracing.js';

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

  constructor(private readonly exporter: SpanExporter | undefined, readonly recent: ReadableSpan[]) {
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

export class OtelSdk {
  private readonly provider: BasicTracerProvider;
  readonly processor: BoundedBatchProcessor;
  private readonly tracer;

  constructor(serviceName: string, target: ExportTarget, recent: ReadableSpan[]) {
    // `env`: the exporter reads OTEL_EXPORTER_OTLP_* itself (endpoint, headers, timeout, compression).
    const exporter = target.kind === 'none' ? undefined : target.kind === 'env' ? new OTLPTraceExporter() : new OTLPTraceExporter({ url: target.url, timeoutMillis: 5_000 });
    this.processor = new BoundedBatchProcessor(exporter, recent);
    this.provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': serviceName }),
      spanProcessors: [this.processor],
    });
    this.tracer = this.provider.getTracer('meshlight');
  }

  start(kind: 'server' | 'client', name: string, parent: ParentContext | undefined, startMs: number): Span {
    const ctx = parent === undefined
      ? ROOT_CONTEXT
      : trace.setSpanContext(ROOT_CONTEXT, { traceId: parent.traceId, spanId: parent.spanId, traceFlags: TraceFlags.SAMPLED, isRemote: true });
    return this.tracer.startSpan(name, { kind: kind === 'server' ? SpanKind.SERVER : SpanKind.CLIENT, startTime: startMs }, ctx);
  }

  shutdown(): Promise<void> {
    return this.provider.shutdown();
  }
}
