// `--concurrency N`: N sidecar processes (node:cluster workers), each running the outbound and inbound
// listeners on the same ports, and a primary that owns the admin and stats ports. The primary answers
// them by asking its workers over the cluster IPC channel: one merged /metrics, ready when every worker
// is, the other admin paths from one worker. It restarts a worker that dies, and drains them all on
// SIGTERM. A worker is the ordinary sidecar (cli/proxy.ts) with no admin port, plus serveWorker below.
import cluster, { type Worker } from 'node:cluster';
import type { Server } from 'node:http';
import type { Logger } from '../diagnostics.js';
import { mergeExpositions } from '../telemetry/metrics-merge.js';
import { Telemetry } from '../telemetry/registry.js';
import { adminTarget, serveAdmin, text, type AdminAnswer, type AdminRequest } from './listeners/admin.js';
import { listen } from './listeners/listen.js';

/**
 * How connections reach the workers. SCHED_NONE: every worker accepts on the shared socket and the kernel
 * picks the one that wakes. SCHED_RR (Node's default on Linux): the primary accepts every connection and
 * passes it to the workers in turn. On the bench (meshlight-c2, bench/README.md) NONE was ahead at 128
 * connections in 4 runs of 4 (18-29k rps against 8-16k) and even within the noise at 16 and 64, and it
 * keeps the primary off the data path. RR's strength is an even spread, but NONE spread 8 keep-alive
 * connections 4/4, 5/3, 2/6, 4/4 over two workers (RR: 4/4, 5/3). Should one worker get most of the
 * connections on a host, NODE_CLUSTER_SCHED_POLICY=rr selects RR.
 */
const SCHEDULING = cluster.SCHED_NONE;

/** How long the primary waits for a worker's admin answer. */
const ASK_TIMEOUT_MS = 2_000;
/** A worker that keeps failing to come up is restarted after 0.5, 1, 2 ... at most 10 s. */
const MAX_RESTART_DELAY_MS = 10_000;

export interface PrimaryOptions {
  readonly concurrency: number;
  readonly adminPort: number;
  readonly statsPort: number | undefined;
  readonly bindAddress: string;
  readonly drainTimeoutMs: number;
  readonly log: Logger;
}

/** primary -> worker: answer this admin request. */
interface Ask {
  readonly ml: 'ask';
  readonly id: number;
  readonly req: AdminRequest;
}

/** worker -> primary: `up` once its listeners are open; `answer` to an Ask. */
type FromWorker = { readonly ml: 'up' } | { readonly ml: 'answer'; readonly id: number; readonly answer: AdminAnswer };


/** In a worker, after its sidecar started: answers the primary's admin requests and tells it it is up. */
export function serveWorker(sidecar: { adminAnswer(req: AdminRequest): Promise<AdminAnswer> }): void {
  // The primary's SIGTERM and a terminal's SIGINT (sent to the whole process group) may both come: the
  // first starts the drain (cli/proxy.ts); these keep a second from killing the worker mid-drain.
  process.on('SIGTERM', () => undefined);
  process.on('SIGINT', () => undefined);
  process.on('message', (m: Ask) => {
    if (m?.ml !== 'ask') return;
    void sidecar.adminAnswer(m.req).then(
      (answer) => process.send?.({ ml: 'answer', id: m.id, answer }),
      (err: Error) => process.send?.({ ml: 'answer', id: m.id, answer: text(500, `admin failed: ${err.message}\n`) }),
    );
  });
  // (Should the primary be killed, node:cluster ends its workers at once: no orphans keep the ports.)
  process.send?.({ ml: 'up' });
}

/** The primary: forks the workers, serves admin and stats, returns the exit code after a drain. */
export async function runPrimary(opts: PrimaryOptions): Promise<number> {
  const { concurrency, log } = opts;
  if (process.env['NODE_CLUSTER_SCHED_POLICY'] === undefined) cluster.schedulingPolicy = SCHEDULING;
  const up = new Set<Worker>();
  const everUp = new WeakSet<Worker>();
  const pending = new Map<number, { worker: Worker; done: (a: AdminAnswer) => void }>();
  let askSeq = 0;
  let draining = false;
  let started = false;
  let failures = 0;
  let failStart: ((why: string) => void) | undefined;
  let allUp: (() => void) | undefined;

  const ask = (worker: Worker, req: AdminRequest): Promise<AdminAnswer> =>
    new Promise((resolve) => {
      const id = ++askSeq;
      const timer = setTimeout(() => done(text(504, `worker ${worker.id} did not answer within ${ASK_TIMEOUT_MS} ms\n`)), ASK_TIMEOUT_MS);
      const done = (a: AdminAnswer): void => {
        clearTimeout(timer);
        pending.delete(id);
        resolve(a);
      };
      pending.set(id, { worker, done });
      worker.send({ ml: 'ask', id, req } satisfies Ask, (err: Error | null) => {
        if (err !== null) done(text(503, `worker ${worker.id} is gone\n`));
      });
    });

  // The primary's own process metrics join the merge: it is part of what the sidecar costs.
  const own = new Telemetry({ inFlight: () => 0, downstreamConnections: () => 0, pools: () => [], accessLogDropped: () => 0, spansDropped: () => 0, spansExported: () => 0 });

  const respond = (statsOnly: boolean) => async (req: AdminRequest): Promise<AdminAnswer> => {
    const url = adminTarget(req, statsOnly);
    if (!(url instanceof URL)) return url;
    const workers = [...up];
    switch (url.pathname) {
      case '/metrics': {
        const answers = await Promise.all(workers.map((w) => ask(w, req)));
        // A worker missing from the sum would look like a counter reset: fail the scrape instead.
        const failed = answers.find((a) => a.status !== 200);
        if (failed !== undefined) return text(503, `metrics: ${failed.body}`);
        const mine = await own.scrape(req.accept);
        const whole = (body: AdminAnswer['body']): string => (typeof body === 'string' ? body : body.join(''));
        return { status: 200, type: mine.contentType, body: mergeExpositions([whole(mine.body), ...answers.map((a) => whole(a.body))]) };
      }
      case '/healthz/ready': {
        if (draining) return text(503, 'draining\n');
        const answers = await Promise.all(workers.map((w) => ask(w, req)));
        const ready = answers.filter((a) => a.status === 200).length;
        return ready === concurrency ? text(200, 'ready\n') : text(503, `${ready} of ${concurrency} workers ready\n`);
      }
      default: {
        // /config_dump is the same in every worker; /clusters and /traces show the first worker's view.
        const first = workers[0];
        return first === undefined ? text(503, 'no worker is up\n') : ask(first, req);
      }
    }
  };

  const fork = (): void => {
    if (draining) return; // a restart that was due when SIGTERM came
    const worker = cluster.fork();
    worker.on('message', (m: FromWorker) => {
      if (m.ml === 'answer') pending.get(m.id)?.done(m.answer);
      else if (m.ml === 'up') {
        up.add(worker);
        everUp.add(worker);
        failures = 0;
        if (up.size === concurrency) allUp?.();
      }
    });
    worker.on('exit', (code, signal) => {
      up.delete(worker);
      for (const p of pending.values()) if (p.worker === worker) p.done(text(503, `worker ${worker.id} exited\n`));
      if (draining) return;
      const how = signal !== null ? `signal ${signal}` : `code ${code}`;
      if (!started) {
        failStart?.(`worker ${worker.id} (pid ${worker.process.pid}) exited with ${how} before its listeners were up`);
        return;
      }
      const delay = everUp.has(worker) ? 0 : Math.min(MAX_RESTART_DELAY_MS, 250 * 2 ** ++failures);
      log.warn(`worker ${worker.id} (pid ${worker.process.pid}) exited with ${how}; restarting it${delay > 0 ? ` in ${delay} ms` : ''}`);
      setTimeout(fork, delay).unref(); // the admin server keeps the primary alive meanwhile
    });
  };

  const servers: Server[] = [];
  const stopWorkers = async (): Promise<void> => {
    draining = true;
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && !w.isDead());
    const exited = Promise.all(workers.map((w) => new Promise((res) => w.once('exit', res))));
    for (const w of workers) w.process.kill('SIGTERM');
    // Workers drain within --drain-timeout; one that hangs past it is killed.
    const kill = setTimeout(() => workers.forEach((w) => w.process.kill('SIGKILL')), opts.drainTimeoutMs + 3_000);
    await exited;
    clearTimeout(kill);
    for (const s of servers) {
      s.closeAllConnections();
      s.close();
    }
  };

  try {
    const admin = serveAdmin(respond(false));
    servers.push(admin);
    await listen(admin, opts.adminPort, '127.0.0.1', 'admin');
    if (opts.statsPort !== undefined) {
      const stats = serveAdmin(respond(true));
      servers.push(stats);
      await listen(stats, opts.statsPort, opts.bindAddress, 'stats');
    }
  } catch (err) {
    log.error((err as Error).message);
    for (const s of servers) s.close();
    return 1;
  }

  const startFailure = new Promise<string>((resolve) => (failStart = resolve));
  const everyoneUp = new Promise<undefined>((resolve) => (allUp = () => resolve(undefined)));
  for (let i = 0; i < concurrency; i++) fork();
  const failed = await Promise.race([everyoneUp, startFailure]);
  if (failed !== undefined) {
    log.error(`${failed}; stopping`);
    await stopWorkers();
    return 1;
  }
  started = true;
  log.info(`${concurrency} workers up (pids ${[...up].map((w) => w.process.pid).join(', ')}), admin 127.0.0.1:${opts.adminPort}`);

  process.on('SIGUSR1', () => {
    for (const w of up) w.process.kill('SIGUSR1');
  });
  const signal = await new Promise<NodeJS.Signals>((res) => {
    process.once('SIGTERM', res);
    process.once('SIGINT', res);
  });
  log.info(`${signal}: draining ${up.size} workers`);
  await stopWorkers();
  log.info('stopped');
  return 0;
}
