import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { MAX_WINDOW_MS, MIN_WINDOW_MS } from '../control-plane/src/graph/api.js';
import { parseDuration } from '../src/config/duration.js';

const DEPLOY = resolve(import.meta.dirname, '../deploy');
const PROMTOOL = '/usr/bin/promtool';
const run = promisify(execFile);

// The contract's names (docs/contract.md section 5) and what prom-client and the sidecar add.
const METRICS = ['mesh_requests_total', 'mesh_request_duration_seconds', 'mesh_request_bytes', 'mesh_response_bytes',
  'process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_p99_seconds', 'meshlight_requests_in_flight'];
const LABELS = ['reporter', 'source_service', 'destination_service', 'route', 'method', 'response_code', 'grpc_status', 'response_flags', 'le', 'instance'];
const LOG_FIELDS = ['start_time', 'method', 'authority', 'path', 'protocol', 'response_code', 'response_flags', 'bytes_received', 'bytes_sent',
  'duration_ms', 'upstream_host', 'upstream_service', 'route', 'source_service', 'request_id', 'trace_id', 'span_id', 'user_agent'];

async function promtool(...args: string[]): Promise<string> {
  if (!existsSync(PROMTOOL)) throw new Error('promtool is missing: apt-get install -y --no-install-recommends prometheus (npm test\'s pretest does this as root)');
  const { stdout, stderr } = await run(PROMTOOL, args, { cwd: DEPLOY });
  return stdout + stderr;
}

/** Metric names used in a PromQL expression (identifiers followed by `{`, `[` or `)`, minus functions). */
function metricsIn(expr: string): string[] {
  return [...expr.matchAll(/([a-z_:][a-z0-9_:]*)\s*[{[]/g)].map((m) => m[1]!.replace(/_(bucket|count|sum)$/, '')).filter((n) => !n.includes(':'));
}

describe('deploy/: the shipped Prometheus, Grafana and logging config', () => {
  it('the Prometheus config and rules pass promtool check', async () => {
    expect(await promtool('check', 'config', 'prometheus/prometheus.yml')).toMatch(/SUCCESS: 11 rules found/);
    expect(await promtool('check', 'rules', 'prometheus/rules/meshlight-red.rules.yml')).toMatch(/SUCCESS: 11 rules found/);
  });

  it('the alert rules pass their promtool unit tests', async () => {
    expect(await promtool('test', 'rules', 'prometheus/rules/meshlight-red.test.yml')).toMatch(/SUCCESS/);
  });

  it('the Kubernetes scrape config keeps only the sidecar stats port', () => {
    const cfg = parse(readFileSync(resolve(DEPLOY, 'prometheus/prometheus-kubernetes.yml'), 'utf8')) as {
      scrape_configs: { kubernetes_sd_configs: { role: string }[]; relabel_configs: { action?: string; regex?: string }[] }[];
    };
    const job = cfg.scrape_configs[0]!;
    expect(job.kubernetes_sd_configs[0]!.role).toBe('pod');
    expect(job.relabel_configs.find((r) => r.action === 'keep')!.regex).toBe('meshlight-proxy;15020');
  });

  it('every rule and dashboard query uses only metric names and labels the sidecar exports', () => {
    const rules = parse(readFileSync(resolve(DEPLOY, 'prometheus/rules/meshlight-red.rules.yml'), 'utf8')) as { groups: { rules: { record?: string; expr: string }[] }[] };
    const dash = JSON.parse(readFileSync(resolve(DEPLOY, 'grafana/meshlight-red.json'), 'utf8')) as { panels: { targets: { expr: string }[] }[] };
    const exprs = [...rules.groups.flatMap((g) => g.rules.map((r) => r.expr)), ...dash.panels.flatMap((p) => p.targets.map((t) => t.expr))];
    expect(exprs.length).toBeGreaterThan(15);
    for (const e of exprs) {
      for (const m of metricsIn(e)) expect(METRICS, `${m} in ${e}`).toContain(m);
      for (const [, label] of e.matchAll(/([a-z_]+)\s*=~?"/g)) expect(LABELS, `${label} in ${e}`).toContain(label);
    }
  });

  it('the topology dashboard is a Node Graph panel on the provisioned Node Graph API data source', () => {
    const dash = JSON.parse(readFileSync(resolve(DEPLOY, 'grafana/meshlight-topology.json'), 'utf8')) as {
      uid: string;
      panels: { type: string; datasource: { type: string; uid: string }; targets: { queryText: string; datasource: { uid: string } }[] }[];
      templating: { list: { name: string; query: string }[] };
    };
    const prov = parse(readFileSync(resolve(DEPLOY, 'grafana/provisioning/datasources/meshlight-topology.yaml'), 'utf8')) as {
      apiVersion: number;
      datasources: { type: string; uid: string; url: string; access: string; jsonData: { url: string } }[];
    };
    expect(prov.apiVersion).toBe(1);
    const ds = prov.datasources.find((d) => d.uid === 'meshlight-topology')!;
    expect(ds).toMatchObject({ type: 'hamedkarbasi93-nodegraphapi-datasource', access: 'proxy', url: 'http://meshlight-control-plane:15014' });
    // The plugin's proxy route reads its address from jsonData.url.
    expect(ds.jsonData.url).toBe(ds.url);
    expect(dash.panels).toHaveLength(1);
    const panel = dash.panels[0]!;
    expect(panel.type).toBe('nodeGraph');
    expect(panel.datasource).toEqual({ type: ds.type, uid: ds.uid });
    expect(panel.targets.map((t) => t.datasource.uid)).toEqual([ds.uid]);
    // Every window the dashboard offers is one /api/graph/data accepts.
    expect(panel.targets[0]!.queryText).toBe('window=$window');
    const windows = dash.templating.list.find((v) => v.name === 'window')!.query.split(',');
    for (const w of windows) {
      const ms = parseDuration(w);
      expect(ms !== undefined && ms >= MIN_WINDOW_MS && ms <= MAX_WINDOW_MS, w).toBe(true);
    }
    const providers = parse(readFileSync(resolve(DEPLOY, 'grafana/provisioning/dashboards/meshlight.yaml'), 'utf8')) as { providers: { type: string; options: { path: string } }[] };
    expect(providers.providers[0]).toMatchObject({ type: 'file', options: { path: '/var/lib/grafana/dashboards/meshlight' } });
  });

  it('the Elasticsearch template maps every access-log field, and Fluent Bit parses its start_time', () => {
    const t = JSON.parse(readFileSync(resolve(DEPLOY, 'logging/elasticsearch-index-template.json'), 'utf8')) as { template: { mappings: { properties: Record<string, { type: string }> } } };
    const props = t.template.mappings.properties;
    for (const f of LOG_FIELDS) expect(props[f], f).toBeDefined();
    expect(props['start_time']!.type).toBe('date');
    expect(props['duration_ms']!.type).toBe('float');
    const fb = parse(readFileSync(resolve(DEPLOY, 'logging/fluent-bit.yaml'), 'utf8')) as { parsers: { time_key: string }[]; pipeline: { outputs: { name: string }[] } };
    expect(fb.parsers[0]!.time_key).toBe('start_time');
    expect(fb.pipeline.outputs.map((o) => o.name).sort()).toEqual(['es', 'kafka']);
  });
});
