import { mkdtemp, readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from './helpers/processes.js';

const BENCH = resolve(import.meta.dirname, '../dist/bench/run.js');

describe('npm run bench (smoke: the bench works, never a timing)', () => {
  it('starts and stops every target once and writes the JSON results', async () => {
    for (const [binary, pkg] of [['/usr/bin/wrk', 'wrk'], ['/usr/sbin/nginx', 'nginx'], ['/usr/sbin/haproxy', 'haproxy']] as const) {
      if (!existsSync(binary)) throw new Error(`${pkg} is missing: apt-get install -y ${pkg} (npm test's pretest does this as root)`);
    }
    const out = join(await mkdtemp(join(tmpdir(), 'meshlight-bench-')), 'smoke.json');
    const run = runCli(['--smoke', '--out', out], {}, BENCH);
    const code = await run.exited;
    expect(run.output.stderr).toContain(`bench: wrote ${out}`);
    expect(code).toBe(0);
    const json = JSON.parse(await readFile(out, 'utf8')) as {
      mode: string;
      upstream: string;
      missing_peers: string[];
      goals: { goal: string; held: boolean | null }[];
      scenarios: { name: string; targets: Record<string, { rps: number; errors: number; loadgen_cpu_pct: number }> }[];
    };
    expect(json.mode).toBe('smoke');
    expect(json.upstream).toBe('nginx');
    expect(json.missing_peers).toEqual([]);
    // Every goal of issue 10 is in the JSON; a smoke run measures none of them.
    expect(json.goals.map((g) => g.goal)).toContain('max-throughput rps meshlight / node-l4');
    expect(json.goals).toHaveLength(9);
    for (const g of json.goals) expect(g.held).toBeNull();
    expect(run.output.stdout).toContain('| fixed-rate added p99 meshlight / nginx | - | <= 1.5 | NOT MEASURED | not measured: a smoke run measures nothing |');
    expect(json.scenarios.map((s) => s.name)).toEqual(['max-throughput', 'fixed-rate']);
    for (const s of json.scenarios) {
      for (const name of ['direct', 'meshlight', 'meshlight-c2', 'meshlight-2hop', 'nginx', 'http-proxy', 'node-l4', 'node-floor', 'haproxy', 'meshlight-metrics-only', 'meshlight-traced-all']) {
        expect(s.targets[name]?.rps, `${s.name} ${name}`).toBeGreaterThan(0);
        expect(s.targets[name]?.errors, `${s.name} ${name}`).toBe(0);
        // The fixed-rate generator's own CPU, read from /proc over its run, is in every row.
        if (s.name === 'fixed-rate') expect(s.targets[name]?.loadgen_cpu_pct, `${s.name} ${name}`).toBeGreaterThan(0);
      }
    }
  }, 90_000);

  it('control-plane: connects simulated sidecars to a real control plane, pushes a route change, and all of them ACK it', async () => {
    const out = join(await mkdtemp(join(tmpdir(), 'meshlight-bench-')), 'control-plane.json');
    const run = runCli(['control-plane', '--smoke', '--out', out], {}, BENCH);
    const code = await run.exited;
    expect(run.output.stderr).toContain(`bench: wrote ${out}`);
    expect(code).toBe(0);
    const json = JSON.parse(await readFile(out, 'utf8')) as { mode: string; sidecars: number; listed: number; synced: number; push: { updated: number }; control_plane_view: { acks: number } };
    expect(json.mode).toBe('smoke');
    expect(json.sidecars).toBe(20);
    expect(json.listed).toBe(20);
    expect(json.synced).toBe(20);
    expect(json.push.updated).toBe(20);
    expect(json.control_plane_view.acks).toBeGreaterThanOrEqual(20);
  }, 90_000);
});
