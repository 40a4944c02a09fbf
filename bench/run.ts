// `npm run bench` (full) and `npm run bench -- --quick`: every target side by side on loopback, following
// ../shared/BASELINE.md (proxy on core 0; upstream, load generator and this runner on core 1). Prints a
// table and writes bench/results/latest.json. See bench/README.md.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseFlags, helpText, UsageError } from '../src/cli/args.js';
import { evaluateGoals, goalsTable, type Figures } from './goals.js';
import { runOpenLoop, runWrk, writeWrkScript, type LoadResult } from './load.js';
import { cpuMs, rssSampler, withDescendants } from './proc.js';
import { LOAD_CORE, have, killAll, startSink, startUpstream, targets, type Env, type Running } from './targets.js';

const FLAGS = {
  quick: { type: 'boolean', help: 'same scenarios, fewer seconds each (under 2 minutes)' },
  smoke: { type: 'boolean', help: 'CI: start and stop every target once with 1 s of load; checks the bench works, measures nothing' },
  targets: { type: 'string', help: 'comma-separated targets (default: all but the optional meshlight-metrics-only, meshlight-traced-all and node-floor)' },
  scenarios: { type: 'string', help: 'comma-separated subset of scenarios (default: all)' },
  out: { type: 'string', help: 'where the JSON goes', default: 'bench/results/latest.json' },
  'cpu-prof': { type: 'string', help: 'run every meshlight sidecar under node --cpu-prof, profiles into this directory' },
} as const;

interface Scenario {
  name: string;
  kind: 'wrk' | 'open-loop';
  path: string;
  connections: number;
  rate?: number;
  warmup: number;
  seconds: number;
  /** Extra keys of the scenario in the JSON. */
  meta: Record<string, number>;
}

type Mode = 'full' | 'quick' | 'smoke';

/** Requests a target serves before it is measured (see warmUp). */
const WARM_REQUESTS = 20_000;

/** The peers meshlight is compared against; `npm run bench` installs them (test/setup/packages.mjs bench). */
const PEERS = ['nginx', 'haproxy'];

function scenarios(mode: Mode): Scenario[] {
  if (mode === 'smoke') {
    return [
      { name: 'max-throughput', kind: 'wrk', path: '/', connections: 16, warmup: 0, seconds: 1, meta: { connections: 16 } },
      { name: 'fixed-rate', kind: 'open-loop', path: '/', connections: 16, rate: 200, warmup: 0, seconds: 1, meta: { rate: 200 } },
    ];
  }
  const quick = mode === 'quick';
  const [warm, secs, sweepWarm, sweepSecs] = quick ? [1, 3, 1, 1] : [3, 10, 2, 10];
  return [
    { name: 'max-throughput', kind: 'wrk', path: '/', connections: 64, warmup: warm, seconds: secs, meta: { connections: 64 } },
    { name: 'fixed-rate', kind: 'open-loop', path: '/', connections: 64, rate: 1000, warmup: warm, seconds: secs, meta: { rate: 1000 } },
    { name: 'response-16k', kind: 'wrk', path: '/16k', connections: 64, warmup: warm, seconds: quick ? 2 : secs, meta: { connections: 64, response_bytes: 16384 } },
    ...[1, 16, 128].map(
      (c): Scenario => ({ name: `connections-${c}`, kind: 'wrk', path: '/', connections: c, warmup: sweepWarm, seconds: sweepSecs, meta: { connections: c } }),
    ),
  ];
}

/** Warm-up, then `begin()` and the measured run (wrk's -d is whole seconds). */
async function load(s: Scenario, port: number, wrkScript: string, begin: () => void): Promise<LoadResult> {
  if (s.kind === 'open-loop') {
    return runOpenLoop({ port, path: s.path, rate: s.rate!, warmup: s.warmup, seconds: s.seconds, connections: s.connections }, LOAD_CORE, begin);
  }
  const wrk = (seconds: number): Promise<LoadResult> =>
    runWrk({ url: `http://127.0.0.1:${port}${s.path}`, connections: s.connections, seconds: Math.max(1, Math.round(seconds)), script: wrkScript, core: LOAD_CORE });
  if (s.warmup > 0) await wrk(s.warmup);
  begin();
  return wrk(s.seconds);
}

/**
 * A fresh target runs `wrk -c64` in 1 s rounds until it has served WARM_REQUESTS and two rounds agree
 * within 10% (at most `maxSeconds`). V8 optimises a sidecar's hot path after some thousands of requests,
 * not after a set time: a fixed 1 s warm-up left meshlight-2hop (two sidecars on one core, each request
 * paying both) in cold code for its whole quick window. Returns the seconds it took.
 */
async function warmUp(port: number, wrkScript: string, maxSeconds: number): Promise<number> {
  let previous = 0;
  let served = 0;
  for (let s = 1; s <= maxSeconds; s++) {
    const { rps, requests } = await runWrk({ url: `http://127.0.0.1:${port}/`, connections: 64, seconds: 1, script: wrkScript, core: LOAD_CORE });
    served += requests;
    if (served >= WARM_REQUESTS && Math.abs(rps - previous) <= 0.1 * previous) return s;
    previous = rps;
  }
  return maxSeconds;
}

async function measure(s: Scenario, t: Running, wrkScript: string): Promise<Figures> {
  const pids = t.pids.length > 0 ? withDescendants(t.pids) : [];
  let rss: { stop(): number } | undefined;
  let before = 0;
  const r = await load(s, t.port, wrkScript, () => {
    rss = rssSampler(pids);
    before = cpuMs(pids);
  });
  const cpu = cpuMs(pids) - before;
  const peak = rss!.stop();
  const round = (n: number, d: number): number => Number(n.toFixed(d));
  return {
    rps: Math.round(r.rps),
    p50_ms: round(r.p50_ms, 3),
    p90_ms: round(r.p90_ms, 3),
    p99_ms: round(r.p99_ms, 3),
    p999_ms: round(r.p999_ms, 3),
    cpu_ms_per_1k: pids.length > 0 ? round((cpu / r.requests) * 1000, 1) : 0,
    rss_mb: pids.length > 0 ? round(peak, 1) : 0,
    errors: r.errors,
    loadgen_cpu_pct: round(r.loadgen_cpu_pct, 1),
    ...(r.send_lag_max_ms === undefined ? {} : { loadgen_send_lag_p50_ms: round(r.send_lag_p50_ms!, 3), loadgen_send_lag_max_ms: round(r.send_lag_max_ms, 3) }),
  };
}

function table(results: { name: string; meta: Record<string, number>; targets: Record<string, Figures> }[]): string {
  const lines: string[] = [];
  const fmt = (n: number | null, d = 2): string => (n === null ? '-' : n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }));
  for (const sc of results) {
    const meta = Object.entries(sc.meta)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    lines.push('', `${sc.name} (${meta})`, '', '| target | rps | p50 ms | p90 ms | p99 ms | p99.9 ms | proxy CPU ms / 1k req | proxy RSS MB | errors | loadgen CPU % |', '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
    for (const [name, f] of Object.entries(sc.targets)) {
      lines.push(
        `| ${name} | ${fmt(f.rps, 0)} | ${fmt(f.p50_ms)} | ${fmt(f.p90_ms)} | ${fmt(f.p99_ms)} | ${fmt(f.p999_ms)} | ${name === 'direct' ? '-' : fmt(f.cpu_ms_per_1k, 1)} | ${name === 'direct' ? '-' : fmt(f.rss_mb, 0)} | ${f.errors} | ${fmt(f.loadgen_cpu_pct, 0)} |`,
      );
    }
  }
  return lines.join('\n') + '\n';
}

async function main(argv: string[]): Promise<number> {
  const parsed = parseFlags(argv, FLAGS, false);
  if (parsed.help) {
    process.stdout.write(helpText('npm run bench -- [--quick] [--targets a,b] [--scenarios a,b]', FLAGS));
    return 0;
  }
  const mode: Mode = parsed.values['smoke'] === true ? 'smoke' : parsed.values['quick'] === true ? 'quick' : 'full';
  for (const tool of ['wrk', 'taskset']) {
    if (!have(tool)) {
      process.stderr.write(`bench: needs ${tool}: apt-get install -y ${tool === 'wrk' ? 'wrk' : 'util-linux'} (npm run bench installs it as root)\n`);
      return 1;
    }
  }
  const nginx = have('nginx');
  const missingPeers = PEERS.filter((p) => !have(p));
  const peerWarning =
    missingPeers.length === 0
      ? undefined
      : `!!! ${missingPeers.join(' and ')} missing: no ${missingPeers.join(' or ')} row` +
        (nginx ? '' : ', the upstream is the raw Node fallback, and no goal is measured') +
        `. Install: sudo apt-get install -y --no-install-recommends ${missingPeers.join(' ')} (npm run bench does it when run as root)`;
  if (peerWarning !== undefined) {
    process.stderr.write(`bench: ${peerWarning}\n`);
    // CI measures nothing without its peers: a run there must not pass on the fallback.
    if (process.env['CI'] === 'true') {
      process.stderr.write('bench: CI=true: refusing to run without every peer\n');
      return 1;
    }
  }
  // This process runs the open-loop generator and the OTLP sink: on the load core, beside wrk and the upstream.
  execFileSync('taskset', ['-pc', LOAD_CORE, String(process.pid)], { stdio: 'ignore' });

  const pick = (flag: string): string[] | undefined => (typeof parsed.values[flag] === 'string' ? (parsed.values[flag] as string).split(',') : undefined);
  const wantTargets = pick('targets');
  const wantScenarios = pick('scenarios');
  const allTargets = targets(nginx).filter((t) => (wantTargets === undefined ? mode === 'smoke' || t.optional !== true : wantTargets.includes(t.name)));
  const allScenarios = scenarios(mode).filter((s) => wantScenarios === undefined || wantScenarios.includes(s.name));
  if (wantTargets && allTargets.length !== wantTargets.length) throw new UsageError(`--targets: unknown name in ${wantTargets.join(',')}`);
  if (wantScenarios && allScenarios.length !== wantScenarios.length) throw new UsageError(`--scenarios: unknown name in ${wantScenarios.join(',')}`);

  const dir = mkdtempSync(join(tmpdir(), 'meshlight-bench-'));
  // nginx's workers run as another user when the bench runs as root: they must read the 16 KiB file.
  chmodSync(dir, 0o755);
  const cleanup = (): void => {
    killAll();
    // BENCH_KEEP=1 keeps the temp dir (configs, access logs, the targets' stderr) for a look afterwards.
    if (process.env['BENCH_KEEP'] === undefined) rmSync(dir, { recursive: true, force: true });
    else process.stderr.write(`bench: kept ${dir}\n`);
  };
  const onSignal = (): void => {
    cleanup();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const startedAt = Date.now();
  const results = allScenarios.map((s) => ({ name: s.name, meta: s.meta, targets: {} as Record<string, Figures> }));
  const sink = await startSink();
  const upstream = await startUpstream(dir, nginx);
  const wrkScript = writeWrkScript(dir);
  const profileDir = parsed.values['cpu-prof'];
  const nodeArgs = typeof profileDir === 'string' ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [];
  const env: Env = { dir, upstreamPort: upstream.port, sinkPort: sink.port, nodeArgs };
  try {
    for (const target of allTargets) {
      if (target.skip !== undefined) {
        process.stderr.write(`bench: ${target.name}: skipped (${target.skip})\n`);
        continue;
      }
      process.stderr.write(`bench: ${target.name}:`);
      const running = await target.start(env);
      try {
        if (mode !== 'smoke') process.stderr.write(` warm-up ${await warmUp(running.port, wrkScript, mode === 'quick' ? 15 : 30)} s,`);
        for (const [i, s] of allScenarios.entries()) {
          process.stderr.write(` ${s.name}`);
          results[i]!.targets[target.name] = await measure(s, running, wrkScript);
        }
      } finally {
        await running.stop();
      }
      process.stderr.write('\n');
    }
  } finally {
    await upstream.stop();
    await sink.close();
    cleanup();
  }
  const seconds = (Date.now() - startedAt) / 1000;
  process.stdout.write(table(results));
  process.stdout.write(`\n${mode} run, ${seconds.toFixed(0)} s; upstream ${nginx ? 'nginx return 200' : 'raw Node server'}; OTLP batches received by the sink: ${sink.received()}\n`);

  const skipped = new Map(allTargets.filter((t) => t.skip !== undefined).map((t) => [t.name, t.skip!]));
  const unmeasured = mode === 'smoke' ? 'a smoke run measures nothing' : nginx ? undefined : 'the upstream is the raw Node fallback, not nginx';
  const goals = evaluateGoals(new Map(results.map((r) => [r.name, r.targets])), skipped, unmeasured);
  process.stdout.write(`\nGoals (issue 10), read within this run:\n\n${goalsTable(goals)}`);
  if (peerWarning !== undefined) process.stdout.write(`\n${peerWarning}\n`);

  const json = {
    date: new Date().toISOString(),
    mode,
    upstream: nginx ? 'nginx' : 'raw-node',
    missing_peers: missingPeers,
    goals,
    scenarios: results.map((r) => ({ name: r.name, ...r.meta, targets: r.targets })),
  };
  const out = parsed.values['out'] as string;
  mkdirSync(join(out, '..'), { recursive: true });
  writeFileSync(out, JSON.stringify(json, null, 2) + '\n');
  process.stderr.write(`bench: wrote ${out}\n`);
  return 0;
}

// Run from the repository root whatever the cwd (the default --out is relative to it).
process.chdir(fileURLToPath(new URL('../..', import.meta.url)));
// `npm run bench -- control-plane [flags]`: the control plane at scale, bench/control-plane.ts.
const bench = process.argv[2] === 'control-plane'
  ? import('./control-plane.js').then((m) => m.runControlPlaneBench(process.argv.slice(3)))
  : main(process.argv.slice(2));
bench.then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    killAll();
    process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = err instanceof UsageError ? 2 : 1;
  },
);
