import { mkdtemp, readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from './helpers/processes.js';

const BENCH = resolve(import.meta.dirname, '../dist/bench/run.js');

describe('npm run bench (smoke: the bench works, never a timing)', () => {
  it('starts and stops every target once and writes the JSON results', async () => {
    if (!existsSync('/usr/bin/wrk')) throw new Error('wrk is missing: apt-get install -y wrk (npm test\'s pretest does this as root)');
    const out = join(await mkdtemp(join(tmpdir(), 'meshlight-bench-')), 'smoke.json');
    const run = runCli(['--smoke', '--out', out], {}, BENCH);
    const code = await run.exited;
    expect(run.output.stderr).toContain(`bench: wrote ${out}`);
    expect(code).toBe(0);
    const json = JSON.parse(await readFile(out, 'utf8')) as { mode: string; scenarios: { name: string; targets: Record<string, { rps: number; errors: number }> }[] };
    expect(json.mode).toBe('smoke');
    expect(json.scenarios.map((s) => s.name)).toEqual(['max-throughput', 'fixed-rate']);
    for (const s of json.scenarios) {
      for (const name of ['direct', 'meshlight', 'meshlight-c2', 'meshlight-2hop', 'http-proxy', 'meshlight-metrics-only', 'meshlight-traced-all']) {
        expect(s.targets[name]?.rps, `${s.name} ${name}`).toBeGreaterThan(0);
        expect(s.targets[name]?.errors, `${s.name} ${name}`).toBe(0);
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
