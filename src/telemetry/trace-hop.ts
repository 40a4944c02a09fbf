// One hop's part of a trace: decide sampling (the caller's decision wins, else Telemetry's percentage),
// and only for sampled requests pay for a span. Unsampled requests keep or mint ids (for the access log
// and so the next hop sees the decision) and cost a few string operations.
import { SpanStatusCode, type Span } from '@opentelemetry/api';
import type { HeaderList } from '../proxy/headers.js';
import { injectContext, newSpanId, newTraceId, parseB3Multi, parseB3Single, parseTraceparent, type ParentContext, type Propagate } from './trace-context.js';
import type { Tracing } from './tracing.js';

export interface TraceSettings {
  /** 0-100. */
  readonly percentage: number;
  readonly propagate: Propagate;
}

/** The trace headers a request came with, captured during the one pass over its headers. */
export class IncomingTraceHeaders {
  traceparent: string | undefined = undefined;
  tracestate: string | undefined = undefined;
  b3: string | undefined = undefined;
  b3TraceId: string | undefined = undefined;
  b3SpanId: string | undefined = undefined;
  b3Sampled: string | undefined = undefined;
  b3Flags: string | undefined = undefined;

  /** Returns true when `name` is a trace header (captured; it stays in the forwarded list). */
  capture(name: string, value: string): boolean {
    switch (name) {
      case 'traceparent': this.traceparent = value; return true;
      case 'tracestate': this.tracestate = value; return true;
      case 'b3': this.b3 = value; return true;
      case 'x-b3-traceid': this.b3TraceId = value; return true;
      case 'x-b3-spanid': this.b3SpanId = value; return true;
      case 'x-b3-sampled': this.b3Sampled = value; return true;
      case 'x-b3-flags': this.b3Flags = value; return true;
      default: return false;
    }
  }

  /** W3C first, then B3 single, then B3 multi; a bare sampling decision comes back as a boolean. */
  parent(): ParentContext | boolean | undefined {
    if (this.traceparent !== undefined) {
      const p = parseTraceparent(this.traceparent);
      if (p !== undefined) return p;
    }
    if (this.b3 !== undefined) {
      const p = parseB3Single(this.b3);
      if (p !== undefined) return p;
    }
    if (this.b3TraceId !== undefined || this.b3Sampled !== undefined || this.b3Flags !== undefined) {
      return parseB3Multi(this.b3TraceId, this.b3SpanId, this.b3Sampled, this.b3Flags);
    }
    return undefined;
  }
}

export interface TracedRequest {
  readonly startMs: number;
  readonly method: string;
  readonly headers: HeaderList;
  readonly incoming: IncomingTraceHeaders | undefined;
  span: Span | undefined;
  traceId: string | undefined;
  spanId: string | undefined;
}

export function startHop(ex: TracedRequest, settings: TraceSettings, tracing: Tracing, kind: 'server' | 'client'): void {
  const parent = ex.incoming?.parent();
  const ctx = typeof parent === 'object' ? parent : undefined;
  const decided = typeof parent === 'boolean' ? parent : ctx?.sampled;
  const sampled = decided ?? Math.random() * 100 < settings.percentage;
  if (sampled) {
    const span = tracing.start(kind, ex.method, ctx, ex.startMs);
    if (span !== undefined) {
      const sc = span.spanContext();
      ex.span = span;
      ex.traceId = sc.traceId;
      ex.spanId = sc.spanId;
    } else {
      // The SDK is still loading: this hop records no span, but the decision travels on.
      ex.traceId = ctx?.traceId ?? newTraceId();
      ex.spanId = newSpanId();
    }
    injectContext(ex.headers, settings.propagate, ex.traceId, ex.spanId, true, ex.incoming?.tracestate, ex.incoming !== undefined);
  } else if (ctx !== undefined) {
    // Not ours to record: the context travels on unchanged.
    ex.traceId = ctx.traceId;
    ex.spanId = ctx.spanId;
  } else {
    ex.traceId = newTraceId();
    ex.spanId = newSpanId();
    injectContext(ex.headers, settings.propagate, ex.traceId, ex.spanId, false, undefined, ex.incoming !== undefined);
  }
}

export interface FinishedHop {
  readonly method: string;
  readonly status: number;
  readonly flag: string | undefined;
  readonly authority: string;
  readonly originalPath: string;
  readonly routeName: string | undefined;
  readonly upstreamService: string | undefined;
  readonly upstreamHost: string | undefined;
  readonly requestId: string;
}

/** Semantic-convention attributes (HTTP, stable names), then the span ends. */
export function endHop(span: Span, ex: FinishedHop): void {
  if (ex.routeName !== undefined && ex.routeName !== '-') span.updateName(`${ex.method} ${ex.routeName}`);
  span.setAttributes({
    'http.request.method': ex.method,
    'http.response.status_code': ex.status,
    'url.path': ex.originalPath,
    'server.address': ex.authority,
    'http.route': ex.routeName ?? '',
    'peer.service': ex.upstreamService ?? '',
    'network.peer.address': ex.upstreamHost ?? '',
    'meshlight.response_flags': ex.flag ?? '-',
    'meshlight.request_id': ex.requestId,
  });
  if (ex.status >= 500 || ex.status === 0) span.setStatus({ code: SpanStatusCode.ERROR, message: ex.flag ?? String(ex.status) });
  span.end();
}
