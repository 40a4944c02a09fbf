// `npm run bench` (full) and `npm run bench -- --quick`: every target side by side on loopback, following
// the pinning of bench/README.md (proxy on core 0; upstream, load generator and this runner on core 1). Prints a
// table and writes bench/results/latest.json. See bench/README.md.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseFlags, helpText, UsageError } from '../src/cli/args.js';
import { runOpenLoop, runWrk, writeWrkScript, type LoadResult } from './load.js';
import { cpuMs, rssSampler, withDescendants } from './proc.js';
import { LOAD_CORE, have, killAll, startSink, startUpstream, targets, type Env, type Running } from './targets.js';

const FLAGS = {
  quick: { type: 'boolean', help: 'same scenarios, fewer seconds each (under 2 minutes)' },
  smoke: { type: 'boolean', help: 'CI: start and stop every target once with 1 s of load; checks the bench works, measures nothing' },
  targets: { type: 'string', help: 'comma-separated targets (default: all but the optional meshlight-metrics-only, meshlight-traced-all and node-floor)' },
  scenarios: { type: 'string', help: 'comma-separated subset of scenarios (default: all)' },
  'open-loop': { type: 'string', help: 'fixed-rate generator: spin (precise, takes the load core) or sleep', default: 'spin' },
  out: { type: 'string', help: 'where the JSON goes', default: 'bench/results/latest.json' },
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

interface Figures {
  rps: number;
  p50_ms: number;
  p90_ms: number;
  p99_ms: number;
  p999_ms: number;
  /** 0 for direct (no proxy), as the JSON's shape has it; the table shows '-'. */
  cpu_ms_per_1k: number;
  rss_mb: number;
  errors: number;
  loadgen_cpu_pct: number;
}

async function load(s: Scenario, port: number, wrkScript: string, seconds: number, spin: boolean): Promise<LoadResult> {
  if (s.kind === 'open-loop') {
    return runOpenLoop({ origin: `http://127.0.0.1:${port}`, path: s.path, rate: s.rate!, seconds, connections: s.connections, spin });
  }
  // wrk's -d is whole seconds.
  return runWrk({ url: `http://127.0.0.1:${port}${s.path}`, connections: s.connections, seconds: Math.max(1, Math.round(seconds)), script: wrkScript, core: LOAD_CORE });
}

async function measure(s: Scenario, t: Running, wrkScript: string, spin: boolean): Promise<Figures> {
  if (s.warmup > 0) await load(s, t.port, wrkScript, s.warmup, spin);
  const pids = t.pids.length > 0 ? withDescendants(t.pids) : [];
  const rss = rssSampler(pids);
  const before = cpuMs(pids);
  const r = await load(s, t.port, wrkScript, s.seconds, spin);
  const cpu = cpuMs(pids) - before;
  const peak = rss.stop();
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
  const openLoop = parsed.values['open-loop'];
  if (openLoop !== 'spin' && openLoop !== 'sleep') throw new UsageError(`--open-loop must be spin or sleep, got '${String(openLoop)}'`);
  const spin = openLoop === 'spin';
  for (const tool of ['wrk', 'taskset']) {
    if (!have(tool)) {
      process.stderr.write(`bench: needs ${tool}: apt-get install -y ${tool === 'wrk' ? 'wrk' : 'util-linux'}\n`);
      return 1;
    }
  }
  const nginx = have('nginx');
  if (!nginx) process.stderr.write('bench: nginx is not installed: apt-get install -y nginx (upstream: the raw Node server; the nginx row is skipped)\n');
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
  const env: Env = { dir, upstreamPort: upstream.port, sinkPort: sink.port };
  try {
    for (const target of allTargets) {
      if (target.skip !== undefined) {
        process.stderr.write(`bench: ${target.name}: skipped (${target.skip})\n`);
        continue;
      }
      process.stderr.write(`bench: ${target.name}:`);
      const running = await target.start(env);
      try {
        for (const [i, s] of allScenarios.entries()) {
          process.stderr.write(` ${s.name}`);
          results[i]!.targets[target.name] = await measure(s, running, wrkScript, spin);
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

  const json = {
    date: new Date().toISOString(),
    mode,
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
