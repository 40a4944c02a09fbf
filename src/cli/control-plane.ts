// `meshlight control-plane`: flags -> ControlPlane; signals -> stop.
import { createLogger, LOG_LEVELS, type Logger, type LogLevel } from '../diagnostics.js';
import { ControlPlane } from '../../control-plane/src/control-plane.js';
import { NO_AUTH, TokenFileAuthenticator, type Authenticator } from '../../control-plane/src/auth.js';
import { handleGraphRequest } from '../../control-plane/src/graph/api.js';
import { PrometheusGraph } from '../../control-plane/src/graph/prometheus.js';
import type { GraphSource } from '../../control-plane/src/graph/types.js';
import { TelemetryWindow } from '../../control-plane/src/graph/window.js';
import { startOrExplain, untilStopSignal } from './serve.js';
import { durationFlag, helpText, parseFlags, portFlag, stringFlag, UsageError, type FlagSpecs } from './args.js';

const FLAGS: FlagSpecs = {
  config: { type: 'string', help: 'route YAML directory (or file), watched: valid changes are pushed to the sidecars they affect' },
  'grpc-port': { type: 'string', help: 'gRPC: config streams and telemetry reports from the sidecars', default: '15010' },
  'http-port': { type: 'string', help: 'HTTP: /api/v1/graph, /api/v1/sidecars, /metrics, Grafana node-graph API', default: '15014' },
  'bind-address': { type: 'string', help: 'address both ports bind', default: '0.0.0.0' },
  'prometheus-url': { type: 'string', help: 'compute the graph with PromQL from this Prometheus (e.g. http://127.0.0.1:9090) instead of the sidecars\' reports' },
  'report-interval': { type: 'string', help: 'how often sidecars send their telemetry reports', default: '5s' },
  'token-file': { type: 'string', help: "sidecars must prove their service: one 'SERVICE.NAMESPACE TOKEN' line per token (re-read when it changes); each sidecar gives its own with --token-file" },
  'log-level': { type: 'string', help: `diagnostics on stderr: ${LOG_LEVELS.join('|')}`, default: 'info' },
};

export async function run(argv: string[]): Promise<number> {
  const parsed = parseFlags(argv, FLAGS, false);
  if (parsed.help) {
    process.stdout.write(helpText('meshlight control-plane --config DIR [flags]', FLAGS));
    return 0;
  }
  const configPath = stringFlag(parsed, 'config');
  if (configPath === undefined) throw new UsageError('--config DIR is required');
  const level = stringFlag(parsed, 'log-level')!;
  if (!(LOG_LEVELS as readonly string[]).includes(level)) throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}, got '${level}'`);
  const prometheusUrl = stringFlag(parsed, 'prometheus-url');
  if (prometheusUrl !== undefined && !/^https?:\/\/[^/]+/.test(prometheusUrl)) {
    throw new UsageError(`--prometheus-url must be an http(s) URL like http://127.0.0.1:9090, got '${prometheusUrl}'`);
  }
  const log = createLogger(level as LogLevel, 'meshlight[control-plane]');
  const auth = await authenticator(stringFlag(parsed, 'token-file'), log);
  const window = prometheusUrl === undefined ? new TelemetryWindow() : undefined;
  const source: GraphSource = window ?? new PrometheusGraph(prometheusUrl!);
  const cp = new ControlPlane({
    configPath,
    bindAddress: stringFlag(parsed, 'bind-address')!,
    grpcPort: portFlag(parsed, 'grpc-port')!,
    httpPort: portFlag(parsed, 'http-port')!,
    reportIntervalMs: durationFlag(parsed, 'report-interval')!,
    log,
    auth,
    ingest: window === undefined ? () => undefined : (report) => window.ingest(report),
    graph: (req, res, url, snapshot) => handleGraphRequest(req, res, url, source, snapshot),
  });
  if (!(await startOrExplain(cp, log))) return 1;
  log.info(`graph from ${prometheusUrl === undefined ? "the sidecars' reports" : `Prometheus at ${prometheusUrl}`}`);
  const signal = await untilStopSignal();
  log.info(`${signal}: stopping`);
  await cp.stop();
  return 0;
}

async function authenticator(file: string | undefined, log: Logger): Promise<Authenticator> {
  if (file === undefined) return NO_AUTH;
  const auth = new TokenFileAuthenticator(file, log);
  try {
    await auth.load();
  } catch (err) {
    throw new UsageError(`--token-file: ${(err as Error).message}`);
  }
  return auth;
}
