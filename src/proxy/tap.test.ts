import { describe, expect, it } from 'vitest';
import type { TapBatch } from '../../control-plane/proto/index.js';
import { TapPoint, type TappedRequest } from './tap.js';

function request(path: string, method = 'GET'): TappedRequest {
  return {
    startMs: 1_700_000_000_000, method, authority: 'orders', originalPath: path, originalQuery: '?q=1', protocol: '1.1', status: 200, flag: undefined,
    bytesReceived: 0, bytesSent: 2, upstreamHost: '127.0.0.1:8080', upstreamService: 'orders.default', routeName: 'orders.all', sourceService: 'frontend.default',
    requestId: 'r1', traceId: 'a'.repeat(32), spanId: undefined, userAgent: undefined, series: undefined,
  };
}

/** A sink that takes batches only while `open`. */
function sink(): { open: boolean; batches: TapBatch[]; ready(): boolean; send(b: TapBatch): void } {
  return { open: true, batches: [], ready() { return this.open; }, send(b) { this.batches.push(b); } };
}

describe('the sidecar tap point', () => {
  it('is off, and takes nothing, until a tap starts; off again once the last one stops', () => {
    const s = sink();
    const tap = new TapPoint(s, 'node-1', { maxBuffered: 10, flushMs: 1 });
    expect(tap.on).toBe(false);
    tap.start('t1', { service: 'orders', path_prefix: '', method: '', max: 0 });
    tap.start('t2', { service: 'orders', path_prefix: '', method: '', max: 0 });
    expect(tap.on).toBe(true);
    tap.stop('t1');
    expect(tap.on).toBe(true);
    tap.stop('t2');
    expect(tap.on).toBe(false);
  });

  it('sends the requests matching a tap\'s path prefix and method, at most max, in batches', () => {
    const s = sink();
    const tap = new TapPoint(s, 'node-1', { maxBuffered: 10, flushMs: 1 });
    tap.start('t1', { service: 'orders', path_prefix: '/api', method: 'post', max: 2 });
    for (const [path, method] of [['/api/a', 'POST'], ['/other', 'POST'], ['/api/b', 'GET'], ['/api/c', 'POST'], ['/api/d', 'POST']] as const) tap.record(request(path, method), 1.23456);
    tap.flush();
    expect(s.batches).toHaveLength(1);
    const batch = s.batches[0]!;
    expect(batch).toMatchObject({ tap_id: 't1', dropped: 0 });
    expect(batch.events.map((e) => e.path)).toEqual(['/api/a?q=1', '/api/c?q=1']);
    expect(batch.events[0]).toMatchObject({ direction: 'inbound', method: 'POST', authority: 'orders', status: 200, latency_ms: 1.235, flags: '-', trace_id: 'a'.repeat(32), node: 'node-1', source: 'frontend.default', route: 'orders.all' });
  });

  it('never holds more than its bound while the channel is full: the rest is dropped and counted, and the count goes with the next batch', () => {
    const s = sink();
    s.open = false;
    const tap = new TapPoint(s, 'node-1', { maxBuffered: 100, flushMs: 1 });
    tap.start('t1', { service: 'orders', path_prefix: '', method: '', max: 0 });
    for (let i = 0; i < 5_000; i++) tap.record(request(`/${i}`), 1);
    tap.flush();
    expect(s.batches).toHaveLength(0);
    s.open = true;
    tap.flush();
    expect(s.batches).toHaveLength(1);
    expect(s.batches[0]!.events).toHaveLength(100);
    expect(s.batches[0]!.dropped).toBe(4_900);
    tap.record(request('/after'), 1);
    tap.flush();
    expect(s.batches[1]).toMatchObject({ dropped: 0, events: [{ path: '/after?q=1' }] });
  });

  it('ends every tap when its channel goes', () => {
    const tap = new TapPoint(sink(), 'node-1');
    tap.start('t1', { service: 'orders', path_prefix: '', method: '', max: 0 });
    tap.attach(undefined, 'node-1');
    expect(tap.on).toBe(false);
  });
});
