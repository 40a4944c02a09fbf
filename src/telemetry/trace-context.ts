// Trace context in and out: W3C traceparent/tracestate, B3 single (`b3`) and multi (`x-b3-*`) headers.
// Hand-parsed because it runs on every request, sampled or not; the OpenTelemetry propagators would
// allocate a Context and carrier wrappers per request. Formats: w3.org/TR/trace-context, openzipkin/b3-propagation.
import { randomFillSync } from 'node:crypto';
import { removeHeader, type HeaderList } from '../proxy/headers.js';

export interface ParentContext {
  readonly traceId: string;
  readonly spanId: string;
  /** undefined: the caller left the decision to us. */
  readonly sampled: boolean | undefined;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const HEX32 = /^(?:[0-9a-f]{16}|[0-9a-f]{32})$/;
const HEX16 = /^[0-9a-f]{16}$/;
const ZERO_TRACE = '00000000000000000000000000000000';
const ZERO_SPAN = '0000000000000000';

export function parseTraceparent(v: string): ParentContext | undefined {
  const m = TRACEPARENT.exec(v.trim());
  if (m === null || m[1] === ZERO_TRACE || m[2] === ZERO_SPAN) return undefined;
  return { traceId: m[1]!, spanId: m[2]!, sampled: (parseInt(m[3]!, 16) & 1) === 1 };
}

/** 64-bit B3 trace ids are left-padded to W3C's 128 bits. */
const pad = (id: string): string => (id.length === 16 ? `0000000000000000${id}` : id);

function b3Sampled(flag: string | undefined): boolean | undefined {
  if (flag === undefined || flag === '') return undefined;
  return flag === '1' || flag === 'd' || flag === 'true';
}

/** `b3: {traceid}-{spanid}[-{sampled}[-{parentspanid}]]`, or just `0`/`1`/`d`. */
export function parseB3Single(v: string): ParentContext | boolean | undefined {
  const parts = v.trim().split('-');
  if (parts.length === 1) return b3Sampled(parts[0]);
  const [traceId, spanId, sampled] = parts;
  if (traceId === undefined || spanId === undefined || !HEX32.test(traceId) || !HEX16.test(spanId)) return undefined;
  return { traceId: pad(traceId), spanId, sampled: b3Sampled(sampled) };
}

export function parseB3Multi(traceId: string | undefined, spanId: string | undefined, sampled: string | undefined, flags: string | undefined): ParentContext | boolean | undefined {
  const decision = flags === '1' ? true : b3Sampled(sampled);
  if (traceId === undefined || spanId === undefined) return decision;
  if (!HEX32.test(traceId) || !HEX16.test(spanId)) return undefined;
  return { traceId: pad(traceId), spanId, sampled: decision };
}

const TRACE_HEADERS = ['traceparent', 'tracestate', 'b3', 'x-b3-traceid', 'x-b3-spanid', 'x-b3-parentspanid', 'x-b3-sampled', 'x-b3-flags'];

export interface Propagate {
  readonly w3c: boolean;
  readonly b3: boolean;
  readonly b3multi: boolean;
}

/**
 * Replaces whatever trace headers came in with this hop's context, in every configured format.
 * `hadAny` false (the request brought none) skips the search for old ones.
 */
export function injectContext(headers: HeaderList, p: Propagate, traceId: string, spanId: string, sampled: boolean, tracestate: string | undefined, hadAny: boolean): void {
  if (hadAny) for (const h of TRACE_HEADERS) removeHeader(headers, h);
  if (p.w3c) {
    headers.push('traceparent', `00-${traceId}-${spanId}-${sampled ? '01' : '00'}`);
    if (tracestate !== undefined) headers.push('tracestate', tracestate);
  }
  if (p.b3) headers.push('b3', `${traceId}-${spanId}-${sampled ? '1' : '0'}`);
  if (p.b3multi) {
    headers.push('x-b3-traceid', traceId, 'x-b3-spanid', spanId, 'x-b3-sampled', sampled ? '1' : '0');
  }
}

// Random ids from a pooled buffer: one randomFillSync per 256 ids instead of one per request.
const pool = Buffer.alloc(4096);
let offset = pool.length;

function randomHex(bytes: number): string {
  if (offset + bytes > pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const s = pool.toString('hex', offset, offset + bytes);
  offset += bytes;
  return s;
}

export const newTraceId = (): string => randomHex(16);
export const newSpanId = (): string => randomHex(8);
