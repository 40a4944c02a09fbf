// `meshlight proxy`: flags -> SidecarOptions; signals -> graceful drain.
import cluster from 'node:cluster';
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { createLogger, LOG_LEVELS, type LogLevel } from '../diagnostics.js';
import { Sidecar, type SidecarOptions } from '../proxy/sidecar.js';
import { runPrimary, serveWorker } from '../proxy/workers.js';
import { startOrExplain, untilStopSignal } from './serve.js';
import { durationFlag, hostPortFlag, helpText, parseFlags, portFlag, positiveIntFlag, stringFlag, UsageError, type FlagSpecs } from './args.js';

const FLAGS: FlagSpecs = {
  config: { type: 'string', help: 'route YAML: a file or a directory (watched; valid changes apply live); with --control-plane, served until its first push' },
  'control-plane': { type: 'string', help: "the control plane's gRPC address HOST:PORT (e.g. 127.0.0.1:15010): config is pushed from it" },
  'token-file': { type: 'string', help: "a file holding this sidecar's token for the control plane (its --token-file lists it); read at every connect, so it can rotate" },
  service: { type: 'string', help: "this sidecar's service (the MeshService it fronts)" },
  namespace: { type: 'string', help: 'namespace of this sidecar: bare service names resolve in it', default: 'default' },
  'app-port': { type: 'string', help: 'the app port inbound calls go to (127.0.0.1:PORT); no inbound listener without it' },
  'outbound-port': { type: 'string', help: "outbound listener, the app's calls to other services (127.0.0.1)", default: '15001' },
  'inbound-port': { type: 'string', help: 'inbound listener, calls into the app', default: '15006' },
  'admin-port': { type: 'string', help: 'admin: /healthz/ready /config_dump /clusters (127.0.0.1)', default: '15000' },
  'stats-port': { type: 'string', help: 'stats listener for Prometheus and the kubelet: /metrics and /healthz/ready only (off unless given; 15020 when injected)' },
  'bind-address': { type: 'string', help: 'address the inbound and stats listeners bind', default: '0.0.0.0' },
  'drain-timeout': { type: 'string', help: 'on SIGTERM, how long in-flight requests may take to finish', default: '5s' },
  'connect-timeout': { type: 'string', help: 'upstream connect timeout', default: '10s' },
  'request-headers-timeout': { type: 'string', help: 'time a client has to send a request head (408 after)', default: '10s' },
  'max-request-headers-kb': { type: 'string', help: 'largest request head accepted (431 above)', default: '60' },
  'max-request-headers': { type: 'string', help: 'most header fields in a request head (431 above)', default: '100' },
  'stream-idle-timeout': { type: 'string', help: "a request or response whose body moves no byte this long is cut (408 SI before the answer)", default: '5m' },
  'otlp-endpoint': { type: 'string', help: "OTLP/HTTP: a collector's base URL (http://127.0.0.1:4318 sends to /v1/traces) or a full traces URL (default: OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT, else recent spans in memory, /traces)" },
  'access-log': { type: 'string', help: 'access log file, one JSON line per request (default stdout); SIGUSR1 reopens it' },
  'log-level': { type: 'string', help: `diagnostics on stderr: ${LOG_LEVELS.join('|')}`, default: 'info' },
  concurrency: { type: 'string', help: 'worker processes sharing the outbound and inbound ports, or auto (one per core); one /metrics for all', default: '1' },
};

export async function run(argv: string[]): Promise<number> {
  const parsed = parseFlags(argv, FLAGS, false);
  if (parsed.help) {
    process.stdout.write(helpText('meshlight proxy --config FILE|DIR | --control-plane HOST:PORT [flags]', FLAGS));
    return 0;
  }
  const configPath = stringFlag(parsed, 'config');
  const controlPlane = hostPortFlag(parsed, 'control-plane');
  if (configPath === undefined && controlPlane === undefined) throw new UsageError('--config FILE|DIR or --control-plane HOST:PORT is required');
  const tokenFile = stringFlag(parsed, 'token-file');
  if (tokenFile !== undefined) await tokenFlag(tokenFile, controlPlane);
  const level = stringFlag(parsed, 'log-level')!;
  if (!(LOG_LEVELS as readonly string[]).includes(level)) throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}, got '${level}'`);
  const service = stringFlag(parsed, 'service');
  const concurrency = concurrencyFlag(stringFlag(parsed, 'concurrency')!);
  const worker = cluster.isWorker ? ` worker ${cluster.worker!.id}` : '';
  const log = createLogger(level as LogLevel, `${service !== undefined ? `meshlight[${service}]` : 'meshlight'}${worker}`);

  const options: SidecarOptions = {
    configPath,
    controlPlane,
    tokenFile,
    service,
    namespace: stringFlag(parsed, 'namespace')!,
    appPort: portFlag(parsed, 'app-port'),
    bindAddress: stringFlag(parsed, 'bind-address')!,
    // A --concurrency worker's admin and stats are served by its primary (proxy/workers.ts).
    ports: { outbound: portFlag(parsed, 'outbound-port')!, inbound: portFlag(parsed, 'inbound-port')!, admin: worker ? undefined : portFlag(parsed, 'admin-port')!, stats: worker ? undefined : portFlag(parsed, 'stats-port') },
    drainTimeoutMs: durationFlag(parsed, 'drain-timeout')!,
    connectTimeoutMs: durationFlag(parsed, 'connect-timeout')!,
    limits: {
      headersTimeoutMs: durationFlag(parsed, 'request-headers-timeout')!,
      maxHeadBytes: positiveIntFlag(parsed, 'max-request-headers-kb')! * 1024,
      maxHeaders: positiveIntFlag(parsed, 'max-request-headers')!,
      keepAliveTimeoutMs: 60_000,
      streamIdleTimeoutMs: durationFlag(parsed, 'stream-idle-timeout')!,
    },
    log,
    accessLogPath: stringFlag(parsed, 'access-log'),
    otlpEndpoint: otlpFlag(stringFlag(parsed, 'otlp-endpoint')),
  };
  if (concurrency > 1 && cluster.isPrimary) {
    const { ports, bindAddress, drainTimeoutMs } = options;
    return runPrimary({ concurrency, adminPort: ports.admin!, statsPort: ports.stats, bindAddress, drainTimeoutMs, log });
  }
  const sidecar = new Sidecar(options);
  if (!(await startOrExplain(sidecar, log))) {
    // A --concurrency worker's IPC channel would keep it alive: let go so it exits and its primary sees why.
    cluster.worker?.disconnect();
    return 1;
  }
  if (cluster.isWorker) serveWorker(sidecar);
  process.on('SIGUSR1', () => sidecar.reopenAccessLog());
  const signal = await untilStopSignal();
  log.info(`${signal}: draining`);
  await sidecar.stop();
  // Drained. An upstream connect still pending (a host that drops SYNs) must not hold the exit until its timeout.
  setTimeout(() => process.exit(0), 200).unref();
  return 0;
}

async function tokenFlag(file: string, controlPlane: string | undefined): Promise<void> {
  if (controlPlane === undefined) throw new UsageError('--token-file is the token for a control plane: give --control-plane too');
  const token = await readFile(file, 'utf8').catch((err: Error) => {
    throw new UsageError(`--token-file: ${err.message}`);
  });
  if (token.trim() === '') throw new UsageError(`--token-file: ${file} is empty`);
}

function otlpFlag(v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  if (!/^https?:\/\/[^/]+/.test(v) || !URL.canParse(v)) throw new UsageError(`--otlp-endpoint must be an http(s) URL like http://127.0.0.1:4318, got '${v}'`);
  return v;
}

function concurrencyFlag(v: string): number {
  if (v === 'auto') return availableParallelism();
  if (!/^[1-9]\d*$/.test(v)) throw new UsageError(`--concurrency must be a positive whole number or auto, got '${v}'`);
  return Number(v);
}
