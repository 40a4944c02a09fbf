import { describe, expect, it } from 'vitest';
import { mergeExpositions } from './metrics-merge.js';
import { MeshMetrics } from './mesh-metrics.js';

function worker(requests: number, traceId?: string): MeshMetrics {
  const m = new MeshMetrics();
  const s = m.route('source', 'a.default', 'b.default', 'default').get('GET', 200, '');
  for (let i = 0; i < requests; i++) s.record(0.002, 10, 100, i === 0 ? traceId : undefined);
  m.connectionOpened('reporter="source",source_service="a.default"');
  return m;
}

const line = (text: string, start: string): string | undefined => text.split('\n').find((l) => l.startsWith(start));

describe('one /metrics from many worker processes', () => {
  it('sums counters and every histogram bucket, sum and count of the same series', async () => {
    const merged = mergeExpositions([(await worker(3).render(false)).join(''), (await worker(4).render(false)).join('')]);
    expect(line(merged, 'mesh_requests_total{')).toMatch(/ 7$/);
    expect(line(merged, 'mesh_request_duration_seconds_bucket{') ).toMatch(/le="0.0005"} 0$/);
    expect(merged).toMatch(/mesh_request_duration_seconds_bucket\{[^}]*le="0.0025"\} 7\n/);
    expect(merged).toMatch(/mesh_request_duration_seconds_count\{[^}]*\} 7\n/);
    expect(merged).toMatch(/mesh_request_duration_seconds_sum\{[^}]*\} 0.014\n/);
    expect(merged).toMatch(/mesh_tcp_connections_opened_total\{reporter="source",source_service="a.default"\} 2\n/);
    // Each family's HELP and TYPE once.
    expect(merged.match(/^# TYPE mesh_requests_total counter$/gm)).toHaveLength(1);
  });

  it('keeps series only one worker has, in the family they belong to', async () => {
    const a = worker(1);
    const b = worker(1);
    b.route('destination', 'a.default', 'c.default', '-').get('POST', 503, 'UF').record(0.1, 0, 0, undefined);
    const merged = mergeExpositions([(await a.render(false)).join(''), (await b.render(false)).join('')]).split('\n');
    const uf = merged.findIndex((l) => l.startsWith('mesh_requests_total{') && l.includes('response_flags="UF"'));
    expect(merged[uf]).toMatch(/ 1$/);
    expect(merged.indexOf('# TYPE mesh_request_duration_seconds histogram')).toBeGreaterThan(uf);
  });

  it('takes one value, not a sum, for info, start-time, fd-limit and event-loop-lag samples', () => {
    const proc = (start: number, lag: number): string =>
      [
        '# HELP process_start_time_seconds Start time', '# TYPE process_start_time_seconds gauge', `process_start_time_seconds ${start}`,
        '# HELP nodejs_version_info Node.js version info.', '# TYPE nodejs_version_info gauge', 'nodejs_version_info{version="v20.19.0",major="20"} 1',
        '# HELP process_max_fds Max', '# TYPE process_max_fds gauge', 'process_max_fds 1048576',
        '# HELP nodejs_eventloop_lag_p99_seconds p99', '# TYPE nodejs_eventloop_lag_p99_seconds gauge', `nodejs_eventloop_lag_p99_seconds ${lag}`,
        '# HELP process_resident_memory_bytes RSS', '# TYPE process_resident_memory_bytes gauge', 'process_resident_memory_bytes 1000',
        '',
      ].join('\n');
    const merged = mergeExpositions([proc(1700000000, 0.01), proc(1700000500, 0.03), proc(1700000100, 0.02)]);
    expect(merged).toContain('process_start_time_seconds 1700000500\n');
    expect(merged).toContain('nodejs_version_info{version="v20.19.0",major="20"} 1\n');
    expect(merged).toContain('process_max_fds 1048576\n');
    expect(merged).toContain('nodejs_eventloop_lag_p99_seconds 0.03\n');
    expect(merged).toContain('process_resident_memory_bytes 3000\n');
  });

  it('OpenMetrics: keeps the newest exemplar of a bucket and one # EOF, last', async () => {
    const om = async (m: MeshMetrics): Promise<string> => `${(await m.render(true)).join('')}# EOF\n`;
    const first = await om(worker(2, 'a'.repeat(32)));
    const second = await om(worker(2, 'b'.repeat(32)));
    const merged = mergeExpositions([first, second]);
    expect(merged.endsWith('# EOF\n')).toBe(true);
    expect(merged.match(/# EOF/g)).toHaveLength(1);
    expect(merged).toMatch(/# TYPE mesh_requests counter\n/);
    const bucket = line(merged, 'mesh_request_duration_seconds_bucket{reporter="source"') ?? '';
    expect(merged).toMatch(new RegExp(`le="0.0025"\\} 4 # \\{trace_id="${'b'.repeat(32)}"\\} 0.002 [0-9.]+\\n`));
    expect(bucket).not.toContain('#');
  });

  it('label values containing braces, spaces and escaped quotes are one series', () => {
    const a = '# TYPE x_total counter\nx_total{route="a} b",v="q\\"}"} 2\n';
    expect(mergeExpositions([a, a])).toBe('# TYPE x_total counter\nx_total{route="a} b",v="q\\"}"} 4\n');
  });
});
