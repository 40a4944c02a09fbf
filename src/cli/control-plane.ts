// `meshlight control-plane`: flags -> ControlPlane; signals -> stop.
import { createLogger, LOG_LEVELS, type Logger } from '../diagnostics.js';
import { ControlPlane } from '../../control-plane/src/control-plane.js';
import { FileFeed, type ConfigFeed } from '../../control-plane/src/config-store.js';
import { NO_AUTH, TokenFileAuthenticator, type Authenticator } from '../../control-plane/src/auth.js';
import { handleGraphRequest } from '../../control-plane/src/graph/api.js';
import { PrometheusGraph } from '../../control-plane/src/graph/prometheus.js';
import type { GraphSource } from '../../control-plane/src/graph/types.js';
import { TelemetryWindow } from '../../control-plane/src/graph/window.js';
import { startOrExplain, untilStopSignal } from './serve.js';
import { durationFlag, helpText, logLevelFlag, parseFlags, portFlag, stringFlag, UsageError, type FlagSpecs } from './args.js';

const FLAGS: FlagSpecs = {
  config: { type: 'string', help: 'route YAML directory (or file), watched: valid changes are pushed to the sidecars they affect' },
  kubernetes: { type: 'boolean', help: 'also take config from the cluster (in-cluster credentials, else $KUBECONFIG or ~/.kube/config): Services, EndpointSlices, HTTPRoutes, meshlight.dev kinds' },
  kubeconfig: { type: 'string', help: 'as --kubernetes, with this kubeconfig file' },
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
    process.stdout.write(helpText('meshlight control-plane --config DIR | --kubernetes [flags]', FLAGS));
    return 0;
  }
  const configPath = stringFlag(parsed, 'config');
  const kubeconfig = stringFlag(parsed, 'kubeconfig');
  const fromCluster = parsed.values['kubernetes'] === true || kubeconfig !== undefined;
  if (configPath === undefined && !fromCluster) throw new UsageError('--config DIR or --kubernetes is required');
  const level = logLevelFlag(parsed);
  const prometheusUrl = stringFlag(parsed, 'prometheus-url');
  if (prometheusUrl !== undefined && !/^https?:\/\/[^/]+/.test(prometheusUrl)) {
    throw new UsageError(`--prometheus-url must be an http(s) URL like http://127.0.0.1:9090, got '${prometheusUrl}'`);
  }
  const log = createLogger(level, 'meshlight[control-plane]');
  const auth = await authenticator(stringFlag(parsed, 'token-file'), log);
  const window = prometheusUrl === undefined ? new TelemetryWindow() : undefined;
  const source: GraphSource = window ?? new PrometheusGraph(prometheusUrl!);
  const feeds: ConfigFeed[] = configPath !== undefined ? [new FileFeed(configPath)] : [];
  if (fromCluster) {
    // Loaded only when asked for: the Kubernetes client is large.
    const { ClusterFeed } = await import('../../control-plane/src/kube/cluster-feed.js');
    try {
      feeds.push(new ClusterFeed({ kubeconfig, log }));
    } catch (err) {
      log.error(`cannot use the cluster: ${(err as Error).message}`);
      return 1;
    }
  }
  const cp = new ControlPlane({
    feeds,
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
  // Stopped. The Kubernetes client's idle keep-alive sockets to the API server must not hold the exit.
  setTimeout(() => process.exit(0), 200).unref();
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
