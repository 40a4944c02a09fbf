import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, freePort, startUpstream, type Upstream } from './helpers/net.js';
import { eventually, meshService, startProxy, type ProxyProcess } from './helpers/processes.js';
import { newTraceId } from '../src/telemetry/trace-context.js';

interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  service: string;
  attributes: Record<string, unknown>;
}

/** A minimal OTLP/HTTP JSON receiver: what Jaeger, Tempo or the Collector would get. */
async function startReceiver(): Promise<{ port: number; spans: ReceivedSpan[]; paths: string[]; server: Server }> {
  const spans: ReceivedSpan[] = [];
  const paths: string[] = [];
  const server = createServer((req, res) => {
    paths.push(req.url ?? '');
    let body = '';
    req.setEncoding('utf8').on('data', (d: string) => (body += d));
    req.on('end', () => {
      const doc = JSON.parse(body) as { resourceSpans: { resource: { attributes: { key: string; value: { stringValue?: string } }[] }; scopeSpans: { spans: (Omit<ReceivedSpan, 'service' | 'attributes'> & { attributes: { key: string; value: Record<string, unknown> }[] })[] }[] }[] };
      for (const rs of doc.resourceSpans) {
        const service = rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue ?? '';
        for (const ss of rs.scopeSpans) {
          for (const s of ss.spans) {
            const attributes = Object.fromEntries(s.attributes.map((a) => [a.key, Object.values(a.value)[0]]));
            spans.push({ ...s, service, attributes });
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as AddressInfo).port, spans, paths, server };
}


const telemetry = (pct: number): string =>
  `apiVersion: meshlight.dev/v1alpha1\nkind: Telemetry\nmetadata: {name: t}\nspec: {tracing: {samplingPercentage: ${pct}, propagation: [w3c, b3]}}\n`;

describe('tracing across two sidecars', () => {
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let app: Upstream;
  let caller: ProxyProcess;
  let callee: ProxyProcess;
  const appSaw = new Map<string, IncomingHttpHeaders>();

  beforeAll(async () => {
    receiver = await startReceiver();
    app = await startUpstream('orders', (req, res) => {
      appSaw.set(req.url ?? '', req.headers);
      req.resume();
      req.on('end', () => res.end('ok'));
    });
    // A collector's base URL, as OpenTelemetry takes it: by the flag on one side, by the standard variable on the other.
    const base = `http://127.0.0.1:${receiver.port}`;
    const services = `${meshService('orders', [1])}---\n${meshService('frontend', [1])}`;
    callee = await startProxy({ files: { 'mesh.yaml': services, 't.yaml': telemetry(100) }, service: 'orders', appPort: app.port, args: ['--otlp-endpoint', base] });
    caller = await startProxy({
      files: { 'mesh.yaml': `${meshService('orders', [callee.inbound])}---\n${meshService('frontend', [1])}`, 't.yaml': telemetry(100) },
      service: 'frontend', env: { OTEL_EXPORTER_OTLP_ENDPOINT: base },
    });
  });

  afterAll(async () => {
    await caller?.stop();
    await callee?.stop();
    await app?.close();
    receiver?.server.close();
  });

  it('a new request gets one trace: the caller CLIENT span is the parent of the callee SERVER span', async () => {
    expect((await call(caller.outbound, 'orders', '/one')).status).toBe(200);
    await eventually(() => receiver.spans.filter((s) => s.attributes['url.path'] === '/one').length === 2, 5_000, 'two spans');
    const client = receiver.spans.find((s) => s.attributes['url.path'] === '/one' && s.service === 'frontend.default')!;
    const server = receiver.spans.find((s) => s.attributes['url.path'] === '/one' && s.service === 'orders.default')!;
    expect(client.kind).toBe(3); // SPAN_KIND_CLIENT
    expect(server.kind).toBe(2); // SPAN_KIND_SERVER
    expect(client.parentSpanId ?? '').toBe('');
    expect(server.traceId).toBe(client.traceId);
    expect(server.parentSpanId).toBe(client.spanId);
    expect(client.attributes).toMatchObject({ 'http.request.method': 'GET', 'http.response.status_code': 200, 'peer.service': 'orders.default', 'http.route': 'default' });
    expect(new Set(receiver.paths)).toEqual(new Set(['/v1/traces']));
    // The app gets the callee span as its parent, so its own calls continue the trace.
    expect(appSaw.get('/one')!['traceparent']).toBe(`00-${server.traceId}-${server.spanId}-01`);
    expect(appSaw.get('/one')!['b3']).toBe(`${server.traceId}-${server.spanId}-1`);
    // The access log line carries the same ids.
    const line = caller.output.stdout.split('\n').find((l) => l.includes('"/one"'))!;
    expect(JSON.parse(line)).toMatchObject({ trace_id: client.traceId, span_id: client.spanId });
  });

  it('continues a B3 trace from the client and writes W3C and B3 onward', async () => {
    const traceId = '463ac35c9f6413ad48485a3953bb6124';
    expect((await call(caller.outbound, 'orders', '/b3', 'GET', { b3: `${traceId}-a2fb4a1d1a96d312-1` })).status).toBe(200);
    await eventually(() => receiver.spans.filter((s) => s.attributes['url.path'] === '/b3').length === 2, 5_000, 'two spans');
    const client = receiver.spans.find((s) => s.attributes['url.path'] === '/b3' && s.service === 'frontend.default')!;
    expect(client.traceId).toBe(traceId);
    expect(client.parentSpanId).toBe('a2fb4a1d1a96d312');
    expect(appSaw.get('/b3')!['traceparent']).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
  });

  it('honours a caller that says not sampled: no spans, but the context still travels', async () => {
    const tp = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00';
    expect((await call(caller.outbound, 'orders', '/unsampled', 'GET', { traceparent: tp })).status).toBe(200);
    expect((await call(caller.outbound, 'orders', '/after')).status).toBe(200);
    await eventually(() => receiver.spans.some((s) => s.attributes['url.path'] === '/after'), 5_000, 'a later span');
    expect(receiver.spans.some((s) => s.attributes['url.path'] === '/unsampled')).toBe(false);
    expect(appSaw.get('/unsampled')!['traceparent']).toBe(tp);
  });
});

describe('sampling percentage and a dead collector', () => {
  it('0% makes no spans, yet mints a not-sampled context for the next hop; a dead collector drops and counts', async () => {
    const app = await startUpstream('orders', (req, res) => {
      res.setHeader('x-saw-traceparent', req.headers['traceparent'] ?? '');
      req.resume();
      req.on('end', () => res.end('ok'));
    });
    const dead = await freePort();
    const zero = await startProxy({ files: { 'mesh.yaml': meshService('orders', [app.port]), 't.yaml': telemetry(0) }, args: ['--otlp-endpoint', `http://127.0.0.1:${dead}/v1/traces`] });
    const all = await startProxy({ files: { 'mesh.yaml': meshService('orders', [app.port]), 't.yaml': telemetry(100) }, args: ['--otlp-endpoint', `http://127.0.0.1:${dead}/v1/traces`] });
    try {
      const seen = await new Promise<string>((resolve, reject) => {
        request({ host: '127.0.0.1', port: zero.outbound, path: '/', headers: { host: 'orders' }, agent: false }, (res) => {
          res.resume();
          resolve(String(res.headers['x-saw-traceparent']));
        }).on('error', reject).end();
      });
      expect(seen).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
      expect(((await (await fetch(`http://127.0.0.1:${zero.admin}/traces`)).json()) as { spans: unknown[] }).spans).toEqual([]);

      for (let i = 0; i < 20; i++) expect((await call(all.outbound, 'orders', `/d${i}`)).status).toBe(200);
      const traces = (await (await fetch(`http://127.0.0.1:${all.admin}/traces`)).json()) as { spans: unknown[] };
      expect(traces.spans.length).toBe(20);
      await eventually(async () => {
        const m = await (await fetch(`http://127.0.0.1:${all.admin}/metrics`)).text();
        return /^meshlight_spans_dropped_total 20$/m.test(m);
      }, 10_000, 'the 20 spans counted as dropped');
    } finally {
      await zero.stop();
      await all.stop();
      await app.close();
    }
  });
});

describe('trace context in, decision and formats out', () => {
  const tel = (pct: number, propagation: string): string =>
    `apiVersion: meshlight.dev/v1alpha1\nkind: Telemetry\nmetadata: {name: t}\nspec: {tracing: {samplingPercentage: ${pct}, propagation: ${propagation}}}\n`;
  type Traces = { spans: { trace_id: string; span_id: string; parent_span_id?: string; attributes: Record<string, unknown> }[] };
  let app: Upstream;
  const appSaw = new Map<string, IncomingHttpHeaders>();
  let none: ProxyProcess;
  let multi: ProxyProcess;

  beforeAll(async () => {
    app = await startUpstream('orders', (req, res) => {
      appSaw.set(req.url ?? '', req.headers);
      req.resume();
      req.on('end', () => res.end('ok'));
    });
    [none, multi] = await Promise.all([
      startProxy({ files: { 'mesh.yaml': meshService('orders', [app.port]), 't.yaml': tel(0, '[w3c, b3]') } }),
      startProxy({ files: { 'mesh.yaml': meshService('orders', [app.port]), 't.yaml': tel(100, '[b3multi]') } }),
    ]);
  });

  afterAll(async () => {
    await Promise.all([none?.stop(), multi?.stop()]);
    await app?.close();
  });

  const spansOf = async (p: ProxyProcess, traceId: string) => ((await (await fetch(`http://127.0.0.1:${p.admin}/traces?trace_id=${traceId}`)).json()) as Traces).spans;
  /** The spans of a trace, once there are `n` (a span ends just after its response is sent). */
  const spansWhen = async (p: ProxyProcess, traceId: string, n: number) => {
    await eventually(async () => (await spansOf(p, traceId)).length >= n, 5_000, `${n} span(s) of trace ${traceId}`);
    return spansOf(p, traceId);
  };

  it("a caller's sampled decision beats a lower local percentage (0%): the hop records a span", async () => {
    // At 0% the SDK is loaded only when the first sampled request comes, and that request's own span is
    // not recorded (its context still goes on): a fresh trace is sent until a span shows.
    let traceId = '';
    await eventually(async () => {
      traceId = newTraceId();
      expect((await call(none.outbound, 'orders', '/parent-sampled', 'GET', { traceparent: `00-${traceId}-00f067aa0ba902b7-01` })).status).toBe(200);
      await new Promise((res) => setTimeout(res, 100)); // the span ends just after the response
      return (await spansOf(none, traceId)).length > 0;
    }, 10_000, 'a span for a sampled parent at 0%');
    const spans = await spansOf(none, traceId);
    expect(spans).toHaveLength(1);
    expect(spans[0]!.parent_span_id).toBe('00f067aa0ba902b7');
    expect(appSaw.get('/parent-sampled')!['traceparent']).toBe(`00-${traceId}-${spans[0]!.span_id}-01`);
  });

  it('passes tracestate on with the trace it belongs to', async () => {
    const traceId = '5bf92f3577b34da6a3ce929d0e0e4736';
    const tracestate = 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7';
    await call(none.outbound, 'orders', '/tracestate', 'GET', { traceparent: `00-${traceId}-00f067aa0ba902b7-01`, tracestate });
    expect(appSaw.get('/tracestate')!['tracestate']).toBe(tracestate);
    expect(String(appSaw.get('/tracestate')!['traceparent'])).toContain(traceId);
  });

  it('reads B3 multi-header context (X-B3-*), and writes only the formats Telemetry.propagation names', async () => {
    const traceId = '80f198ee56343ba864fe8b2a57d3eff7';
    await call(multi.outbound, 'orders', '/b3multi', 'GET', { 'x-b3-traceid': traceId, 'x-b3-spanid': 'e457b5a2e4d86bd1', 'x-b3-sampled': '1' });
    const spans = await spansWhen(multi, traceId, 1);
    expect(spans).toHaveLength(1);
    expect(spans[0]!.parent_span_id).toBe('e457b5a2e4d86bd1');
    const saw = appSaw.get('/b3multi')!;
    // propagation: [b3multi]: X-B3-* with this hop's span, and neither traceparent nor b3.
    expect({ trace: saw['x-b3-traceid'], span: saw['x-b3-spanid'], sampled: saw['x-b3-sampled'] }).toEqual({ trace: traceId, span: spans[0]!.span_id, sampled: '1' });
    expect(saw['traceparent']).toBeUndefined();
    expect(saw['b3']).toBeUndefined();
    // A caller's "not sampled" in B3 multi is honoured too: no span, the decision travels on.
    const unsampled = 'a0f198ee56343ba864fe8b2a57d3eff7';
    await call(multi.outbound, 'orders', '/b3multi-0', 'GET', { 'x-b3-traceid': unsampled, 'x-b3-spanid': 'e457b5a2e4d86bd1', 'x-b3-sampled': '0' });
    // Not a fixed sleep: a later sampled request's span is in, so the unsampled one's would be too.
    const later = 'b0f198ee56343ba864fe8b2a57d3eff7';
    await call(multi.outbound, 'orders', '/b3multi-1', 'GET', { 'x-b3-traceid': later, 'x-b3-spanid': 'e457b5a2e4d86bd1', 'x-b3-sampled': '1' });
    await spansWhen(multi, later, 1);
    expect(await spansOf(multi, unsampled)).toEqual([]);
    expect(appSaw.get('/b3multi-0')!['x-b3-sampled']).toBe('0');
  });
});
