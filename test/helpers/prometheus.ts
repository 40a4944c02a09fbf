// A real Prometheus (Debian's `prometheus` package) on loopback, scraping the given admin ports every
// second, in a temp directory removed on stop. Tests that need one fail, never skip, without it.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './net.js';
import { eventually } from './processes.js';

export const PROMETHEUS_BIN = process.env['PROMETHEUS_BIN'] ?? '/usr/bin/prometheus';
export const PROMETHEUS_INSTALL_HINT = 'apt-get install -y --no-install-recommends prometheus';

export interface PrometheusProcess {
  readonly url: string;
  /** Its stdout and stderr so far (warnings and errors only). */
  log(): string;
  /** Resolves once every target has been scraped at least once (the first sample of each series). */
  scrapedOnce(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export interface PrometheusOptions {
  /** Target labels, one set per admin port, in the same order. */
  readonly labels?: readonly Readonly<Record<string, string>>[];
  /** Exemplar storage on: Prometheus 2.x asks for OpenMetrics (and so gets exemplars) only then. */
  readonly exemplars?: boolean;
  /** Its port, when others must know the URL before it starts (e.g. a control plane's --prometheus-url). */
  readonly port?: number;
}

/** Starts Prometheus scraping `127.0.0.1:<port>/metrics` for each port; resolves once it is ready. */
export async function startPrometheus(adminPorts: readonly number[], opts: PrometheusOptions = {}): Promise<PrometheusProcess> {
  if (!existsSync(PROMETHEUS_BIN)) throw new Error(`Prometheus is not installed (no ${PROMETHEUS_BIN}); install it with: ${PROMETHEUS_INSTALL_HINT} (or set PROMETHEUS_BIN)`);
  const dir = await mkdtemp(join(tmpdir(), 'meshlight-prometheus-'));
  const port = opts.port ?? (await freePort());
  const targets = adminPorts.map((p, i) => `{targets: ['127.0.0.1:${p}'], labels: ${JSON.stringify(opts.labels?.[i] ?? {})}}`).join(', ');
  await writeFile(join(dir, 'prometheus.yml'), `global: {scrape_interval: 1s, scrape_timeout: 1s}\nscrape_configs:\n  - job_name: meshlight\n    static_configs: [${targets}]\n`);
  const flags = [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'];
  if (opts.exemplars === true) flags.push('--enable-feature=exemplar-storage');
  const proc = spawn(PROMETHEUS_BIN, flags, { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (log += d));
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (log += d));
  const exited = new Promise((res) => proc.on('exit', res));
  process.on('exit', () => proc.kill('SIGKILL'));
  const url = `http://127.0.0.1:${port}`;
  const answers = async (path: string): Promise<unknown> => {
    if (proc.exitCode !== null) throw new Error(`prometheus exited (${proc.exitCode}):\n${log}`);
    try {
      const res = await fetch(url + path);
      return res.ok ? await res.json().catch(() => true) : undefined;
    } catch {
      return undefined;
    }
  };
  await eventually(async () => (await answers('/-/ready')) !== undefined, 15_000, 'Prometheus /-/ready');
  return {
    url,
    log: () => log,
    async scrapedOnce(timeoutMs = 10_000) {
      await eventually(async () => {
        const doc = (await answers('/api/v1/targets?state=active')) as { data?: { activeTargets: { health: string }[] } } | undefined;
        const active = doc?.data?.activeTargets ?? [];
        return active.length === adminPorts.length && active.every((t) => t.health === 'up');
      }, timeoutMs, 'the first scrape of every target');
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const killer = setTimeout(() => proc.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(killer);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
