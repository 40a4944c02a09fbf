import { describe, expect, it } from 'vitest';
import { MAX_OUTCOMES_PER_ROUTE, MAX_SERIES, MeshMetrics } from './mesh-metrics.js';

describe('mesh RED metrics', () => {
  it('counts requests and observes durations and sizes per label set, in Prometheus text', async () => {
    const m = new MeshMetrics();
    const route = m.route('source', 'frontend', 'orders', 'orders.canary');
    route.get('GET', 200, '').record(0.003, 0, 120, undefined);
    route.get('GET', 200, '').record(0.2, 10, 5_000, undefined);
    route.get('POST', 503, 'UF').record(0.0004, 50, 40, undefined);
    const text = (await m.render(false)).join('');
    const ok = 'reporter="source",source_service="frontend",destination_service="orders",route="orders.canary",method="GET",response_code="200",grpc_status="",response_flags="-"';
    expect(text).toContain('# TYPE mesh_requests_total counter');
    expect(text).toContain(`mesh_requests_total{${ok}} 2`);
    expect(text).toContain('mesh_requests_total{reporter="source",source_service="frontend",destination_service="orders",route="orders.canary",method="POST",response_code="503",grpc_status="",response_flags="UF"} 1');
    expect(text).toContain(`mesh_request_duration_seconds_bucket{${ok},le="0.0025"} 0`);
    expect(text).toContain(`mesh_request_duration_seconds_bucket{${ok},le="0.005"} 1`);
    expect(text).toContain(`mesh_request_duration_seconds_bucket{${ok},le="0.25"} 2`);
    expect(text).toContain(`mesh_request_duration_seconds_bucket{${ok},le="+Inf"} 2`);
    expect(text).toContain(`mesh_request_duration_seconds_sum{${ok}} 0.203`);
    expect(text).toContain(`mesh_response_bytes_bucket{${ok},le="1000"} 1`);
    expect(text).not.toContain('# {trace_id');
  });

  it('puts the trace id of a sampled request on its duration bucket as an OpenMetrics exemplar', async () => {
    const m = new MeshMetrics();
    m.route('destination', 'frontend', 'orders', 'default').get('GET', 200, '').record(0.04, 0, 0, '4bf92f3577b34da6a3ce929d0e0e4736');
    const om = (await m.render(true)).join('');
    expect(om).toContain('# TYPE mesh_requests counter');
    expect(om).toMatch(/mesh_request_duration_seconds_bucket\{[^}]*le="0\.05"\} 1 # \{trace_id="4bf92f3577b34da6a3ce929d0e0e4736"\} 0\.04 \d+(\.\d+)?\n/);
    expect(om).toMatch(/mesh_request_duration_seconds_bucket\{[^}]*le="0\.025"\} 0\n/);
  });

  it('maps unknown methods to OTHER', async () => {
    const m = new MeshMetrics();
    m.route('source', 'a', 'b', 'b.0').get('PURGE', 200, '').record(0.001, 0, 0, undefined);
    expect((await m.render(false)).join('')).toContain('method="OTHER"');
  });

  it('folds the outcomes of a route past its budget into its own per-class series, never into another route', async () => {
    const m = new MeshMetrics();
    const noisy = m.route('destination', 'unknown', 'orders.default', '-');
    for (let code = 100; code < 600; code++) noisy.get('GET', code, '').record(0.001, 0, 0, undefined);
    const quiet = m.route('destination', 'frontend.default', 'orders.default', '-');
    quiet.get('GET', 200, '').record(0.001, 0, 0, undefined);
    const text = (await m.render(false)).join('');
    const series = text.match(/^mesh_requests_total\{[^}]*source_service="unknown"[^}]*\}/gm)!;
    expect(series.length).toBeLessThanOrEqual(MAX_OUTCOMES_PER_ROUTE + 5);
    // 500 calls, each counted once: exact codes first, then their class.
    const counts = [...text.matchAll(/^mesh_requests_total\{[^}]*source_service="unknown"[^}]*\} (\d+)$/gm)].map((x) => Number(x[1]));
    expect(counts.reduce((a, b) => a + b, 0)).toBe(500);
    expect(text).toMatch(/source_service="unknown",[^}]*method="OTHER",response_code="5xx",[^}]*\} 100\n/);
    expect(text).toContain('mesh_requests_total{reporter="destination",source_service="frontend.default",destination_service="orders.default",route="-",method="GET",response_code="200",grpc_status="",response_flags="-"} 1');
    expect(text).not.toContain('overflow');
  });

  it('past MAX_SERIES in all, each route still gets its own (folded) series', async () => {
    const m = new MeshMetrics();
    for (let i = 0; i < MAX_SERIES + 10; i++) m.route('source', 'a', `svc${i}`, 'x').get('GET', 200, '').record(0.001, 0, 0, undefined);
    const text = (await m.render(false)).join('');
    expect(text.match(/^mesh_requests_total\{/gm)!.length).toBe(MAX_SERIES + 10);
    expect(text).toContain(`destination_service="svc${MAX_SERIES + 9}",route="x",method="OTHER",response_code="2xx"`);
    expect(text).not.toContain('overflow');
  });
});
