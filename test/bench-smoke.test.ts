import { execFile } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
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

  it('says loudly when a peer is missing, measures no goal on the fallback upstream, and refuses under CI=true', async () => {
    // nginx and haproxy hidden from this one run: a private mount namespace with an empty /usr/sbin.
    if (process.getuid?.() !== 0 || !existsSync('/usr/bin/unshare')) {
      if (process.env['CI'] === 'true') throw new Error('needs root and unshare (util-linux) to hide nginx and haproxy from the bench');
      process.stderr.write('bench-smoke: not root: the missing-peer check is not run\n');
      return;
    }
    const out = join(await mkdtemp(join(tmpdir(), 'meshlight-bench-')), 'nopeer.json');
    // The bench in that namespace, to completion: exit code and output.
    const hidden = (ci: string): Promise<{ code: number; stdout: string; stderr: string }> =>
      promisify(execFile)('unshare', ['-m', 'sh', '-c', 'mount -t tmpfs none /usr/sbin && exec "$0" "$@"', process.execPath, BENCH, '--smoke', '--targets', 'direct,nginx,haproxy', '--out', out], {
        env: { ...process.env, CI: ci },
      }).then(
        (r) => ({ code: 0, ...r }),
        (err: { code: number; stdout: string; stderr: string }) => ({ code: err.code, stdout: err.stdout, stderr: err.stderr }),
      );
    const loud = '!!! nginx and haproxy missing: no nginx or haproxy row, the upstream is the raw Node fallback, and no goal is measured. Install: sudo apt-get install -y --no-install-recommends nginx haproxy';
    const refused = await hidden('true');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(loud);
    expect(refused.stderr).toContain('CI=true: refusing to run without every peer');
    expect(existsSync(out)).toBe(false);

    const warned = await hidden('');
    expect(warned.code).toBe(0);
    expect(warned.stderr).toContain(loud);
    expect(warned.stdout).toContain(loud);
    const json = JSON.parse(await readFile(out, 'utf8')) as { upstream: string; missing_peers: string[]; scenarios: { targets: Record<string, unknown> }[] };
    expect(json.upstream).toBe('raw-node');
    expect(json.missing_peers).toEqual(['nginx', 'haproxy']);
    expect(Object.keys(json.scenarios[0]!.targets)).toEqual(['direct']);
  }, 60_000);

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
