import { describe, expect, it } from 'vitest';
import type { HeaderList } from '../proxy/headers.js';
import { injectContext, newSpanId, newTraceId, parseB3Multi, parseB3Single, parseTraceparent } from './trace-context.js';

const T = '4bf92f3577b34da6a3ce929d0e0e4736';
const S = '00f067aa0ba902b7';

describe('trace context headers', () => {
  it('reads W3C traceparent and rejects malformed or all-zero ids', () => {
    expect(parseTraceparent(`00-${T}-${S}-01`)).toEqual({ traceId: T, spanId: S, sampled: true });
    expect(parseTraceparent(`00-${T}-${S}-00`)).toEqual({ traceId: T, spanId: S, sampled: false });
    expect(parseTraceparent(`00-${'0'.repeat(32)}-${S}-01`)).toBeUndefined();
    expect(parseTraceparent(`00-${T.toUpperCase()}-${S}-01`)).toBeUndefined();
    expect(parseTraceparent('garbage')).toBeUndefined();
  });

  it('reads B3 single and multi, padding 64-bit trace ids, and bare decisions', () => {
    expect(parseB3Single(`${T}-${S}-1`)).toEqual({ traceId: T, spanId: S, sampled: true });
    expect(parseB3Single(`a3ce929d0e0e4736-${S}`)).toEqual({ traceId: `0000000000000000a3ce929d0e0e4736`, spanId: S, sampled: undefined });
    expect(parseB3Single('0')).toBe(false);
    expect(parseB3Single('d')).toBe(true);
    expect(parseB3Multi(T, S, '0', undefined)).toEqual({ traceId: T, spanId: S, sampled: false });
    expect(parseB3Multi(T, S, undefined, '1')).toEqual({ traceId: T, spanId: S, sampled: true });
    expect(parseB3Multi(undefined, undefined, '1', undefined)).toBe(true);
  });

  it('replaces incoming trace headers with this hop in each configured format', () => {
    const headers: HeaderList = ['accept', '*/*', 'b3', 'old', 'x-b3-traceid', 'old', 'tracestate', 'a=1'];
    injectContext(headers, { w3c: true, b3: true, b3multi: true }, T, S, true, 'a=1', true);
    expect(headers).toEqual([
      'accept', '*/*', 'traceparent', `00-${T}-${S}-01`, 'tracestate', 'a=1', 'b3', `${T}-${S}-1`,
      'x-b3-traceid', T, 'x-b3-spanid', S, 'x-b3-sampled', '1',
    ]);
  });

  it('mints distinct random ids of the right size', () => {
    const ids = new Set(Array.from({ length: 1000 }, newTraceId));
    expect(ids.size).toBe(1000);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{32}$/);
    expect(newSpanId()).toMatch(/^[0-9a-f]{16}$/);
  });
});
