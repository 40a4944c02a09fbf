import { describe, expect, it } from 'vitest';
import { formatAccessLog, type LoggedRequest } from './access-log.js';

const base: LoggedRequest = {
  startMs: Date.UTC(2026, 10, 26, 12, 0, 0, 123), method: 'GET', authority: 'orders', originalPath: '/a', originalQuery: '',
  protocol: '1.1', status: 200, flag: undefined, bytesReceived: 0, bytesSent: 2, upstreamHost: '127.0.0.1:8080',
  upstreamService: 'orders.default', routeName: 'default', sourceService: 'frontend.default', requestId: 'r-1',
  traceId: undefined, spanId: undefined, userAgent: undefined,
};

describe('an access-log line', () => {
  it('is one line of JSON with the contract fields, whatever the request carried', () => {
    const hostile = { ...base, originalPath: '/say"hi"\\now', originalQuery: '?q=\u0001', userAgent: 'curl "x"\ttab', authority: 'h\u00e9te' };
    const line = formatAccessLog(hostile, 'source', 1.2345);
    expect(line.endsWith('\n')).toBe(true);
    expect(line.indexOf('\n')).toBe(line.length - 1);
    const parsed = JSON.parse(line) as Record<string, unknown>;
    expect(parsed).toMatchObject({
      start_time: '2026-11-26T12:00:00.123Z', path: '/say"hi"\\now?q=\u0001', user_agent: 'curl "x"\ttab', authority: 'h\u00e9te',
      response_flags: '-', duration_ms: 1.235, trace_id: null, upstream_service: 'orders.default', reporter: 'source',
    });
  });
});
