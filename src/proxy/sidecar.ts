// One sidecar: loads config, opens the listeners, swaps in new config as it changes, and drains on stop.
import type { Server } from 'node:http';
import { ConfigRejectedError, formatIssue, loadConfig, YamlCache } from '../config/load.js';
import type { ConfigIssue, Snapshot } from '../config/types.js';
import type { Logger } from '../diagnostics.js';
import { watchConfig, type ConfigWatcher } from './config-watch.js';
import type { TrafficState } from './exchange.js';
import { adminAnswer, createAdminServer, type AdminAnswer, type AdminRequest, type AdminState } from './listeners/admin.js';
import { Http1Listener, type ServerLimits } from './http1/downstream.js';
import { listen } from './listeners/listen.js';
import type { AppProbes } from './listeners/app-probes.js';
import { createInboundHandler } from './listeners/inbound.js';
import { createOutboundHandler } from './listeners/outbound.js';
import { buildPlan, type PlanOptions, type ProxyPlan } from './plan.js';
import { ClusterManager } from './upstream/cluster.js';
import { Telemetry, type PoolState } from '../telemetry/registry.js';
import { AccessLogSink } from '../telemetry/access-log.js';
import { exportTarget, Tracing } from '../telemetry/tracing.js';
import { selfName } from './plan.js';
import { serviceKey } from './routing/route-table.js';
import type { MeshClient } from '../mesh-client/client.js';
import { hostname, networkInterfaces } from 'node:os';

export interface SidecarOptions extends PlanOptions {
  /** Route YAML, watched; with a control plane, only the config served until its first push. */
  readonly configPath: string | undefined;
  /** `host:port` of the control plane's gRPC port; undefined: config from configPath only. */
  readonly controlPlane: string | undefined;
  /** This sidecar's token for the control plane (a file, re-read at each connect); undefined: none. */
  readonly tokenFile: string | undefined;
  /** Inbound listens here (a pod's interfaces by default); outbound and admin are always loopback. */
  readonly bindAddress: string;
  /**
   * `stats` undefined: no stats listener (it is opened only when asked for, as in the contract). `admin`
   * undefined: none either (a --concurrency worker, whose primary serves admin through adminAnswer).
   */
  readonly ports: { readonly outbound: number; readonly inbound: number; readonly admin: number | undefined; readonly stats: number | undefined };
  readonly drainTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly limits: ServerLimits;
  readonly log: Logger;
  /** The access log file; undefined: stdout. */
  readonly accessLogPath: string | undefined;
  /** --otlp-endpoint (a traces URL or a collector's base URL); undefined: OTEL_EXPORTER_OTLP_* if set, else memory only (/traces). */
  readonly otlpEndpoint: string | undefined;
  /** The app's probes the stats port answers (an injected sidecar's MESHLIGHT_APP_PROBES). */
  readonly appProbes?: AppProbes;
}

export class Sidecar implements TrafficState {
  inFlight = 0;
  draining = false;
  private plan: ProxyPlan | undefined;
  private rejected: readonly ConfigIssue[] = [];
  private listening = false;
  private readonly clusters: ClusterManager;
  private readonly dataServers: Http1Listener[] = [];
  private adminServer: Server | undefined;
  private statsServer: Server | undefined;
  private watcher: ConfigWatcher | undefined;
  private reloading = Promise.resolve();
  private readonly yaml = new YamlCache();
  private downstreamConnections = 0;
  readonly telemetry: Telemetry;
  private readonly accessLog: AccessLogSink;
  private readonly tracing: Tracing;
  /** The OpenTelemetry SDK's load, started by a config that can sample (Tracing.enable). */
  private tracingLoaded: Promise<void> = Promise.resolve();
  private meshClient: MeshClient | undefined;

  constructor(private readonly opts: SidecarOptions) {
    this.clusters = new ClusterManager({ connectTimeoutMs: opts.connectTimeoutMs });
    this.accessLog = new AccessLogSink(opts.accessLogPath);
    this.tracing = new Tracing({ serviceName: selfName(opts), target: exportTarget(opts.otlpEndpoint, process.env) });
    this.telemetry = new Telemetry({
      inFlight: () => this.inFlight,
      downstreamConnections: () => this.downstreamConnections,
      pools: () => this.poolStates(),
      accessLogDropped: () => this.accessLog.dropped,
      spansDropped: () => this.tracing.dropped,
      spansExported: () => this.tracing.exported,
    });
  }

  private *poolStates(): Iterable<PoolState> {
    for (const c of this.plan?.clusters.values() ?? []) {
      for (const ep of c.endpoints) {
        const { connected, running, pending } = ep.pool;
        yield { service: c.name, endpoint: ep.address, connected, running, pending };
      }
    }
  }

  /** mesh_tcp_connections_* and the open-connections gauge: per connection, never per request. */
  private countConnections(listener: Http1Listener, labels: string): void {
    const mesh = this.telemetry.mesh;
    listener.server.on('connection', (socket) => {
      this.downstreamConnections++;
      mesh.connectionOpened(labels);
      socket.once('close', () => {
        this.downstreamConnections--;
        mesh.connectionClosed(labels);
      });
    });
  }

  async start(): Promise<void> {
    const { opts } = this;
    if (opts.configPath !== undefined) {
      const result = await loadConfig([opts.configPath], { defaultNamespace: opts.namespace, cache: this.yaml });
      if (!result.ok) throw new ConfigRejectedError(result.errors);
      this.apply(result.snapshot);
    }
    const current = (): ProxyPlan => this.plan!;

    if (opts.ports.stats !== undefined) {
      this.statsServer = createAdminServer(() => this.adminState(), this.telemetry, this.tracing, true, opts.appProbes);
      await listen(this.statsServer, opts.ports.stats, opts.bindAddress, 'stats');
    }
    const self = selfName(opts);
    if (opts.ports.admin !== undefined) {
      this.adminServer = createAdminServer(() => this.adminState(), this.telemetry, this.tracing);
      await listen(this.adminServer, opts.ports.admin, '127.0.0.1', 'admin');
    }
    if (opts.controlPlane !== undefined) await this.subscribe(opts.controlPlane);
    // A config that samples gets its first request's span: the SDK is in before the listeners open.
    await this.tracingLoaded;
    const client = this.meshClient;
    const discover = client === undefined ? undefined : (authority: string) => {
      const key = serviceKey(authority, opts.namespace);
      return key === undefined ? undefined : client.discover(key);
    };
    const outbound = new Http1Listener(opts.limits, createOutboundHandler(this, current, { log: { sink: this.accessLog, reporter: 'source' }, tracing: this.tracing }, discover));
    this.countConnections(outbound, `reporter="source",source_service="${self}"`);
    this.dataServers.push(outbound);
    await listen(outbound.server, opts.ports.outbound, '127.0.0.1', 'outbound');
    if (opts.appPort !== undefined) {
      const inbound = new Http1Listener(opts.limits, createInboundHandler(this, current, { log: { sink: this.accessLog, reporter: 'destination' }, tracing: this.tracing }));
      this.countConnections(inbound, `reporter="destination",destination_service="${self}"`);
      this.dataServers.push(inbound);
      await listen(inbound.server, opts.ports.inbound, opts.bindAddress, 'inbound');
    }
    if (opts.configPath !== undefined && this.meshClient === undefined) {
      this.watcher = await watchConfig(opts.configPath, () => {
        this.reloading = this.reloading.then(() => this.reload());
      });
    }
    this.listening = true;
    const inboundNote = opts.appPort !== undefined ? `, inbound ${opts.bindAddress}:${opts.ports.inbound} -> 127.0.0.1:${opts.appPort}` : '';
    const adminNote = opts.ports.admin !== undefined ? `, admin 127.0.0.1:${opts.ports.admin}` : '';
    opts.log.info(`listening: outbound 127.0.0.1:${opts.ports.outbound}${inboundNote}${adminNote}`);
  }

  /** What this sidecar's admin port would answer: how a --concurrency primary asks its workers (workers.ts). */
  adminAnswer(req: AdminRequest): Promise<AdminAnswer> {
    return adminAnswer(req, this.adminState(), this.telemetry, this.tracing, false);
  }

  private adminState(): AdminState {
    const client = this.meshClient;
    return {
      plan: this.plan, listening: this.listening, draining: this.draining, rejected: this.rejected,
      controlPlane: client === undefined ? undefined : { address: this.opts.controlPlane!, connected: client.connected },
    };
  }

  /** Connects to the control plane; without a config file, waits for its first config (not ready meanwhile). */
  private async subscribe(address: string): Promise<void> {
    const { opts } = this;
    // grpc-js and the proto loader (~13 MB resident) only for a sidecar that has a control plane.
    const [{ MeshClient }, { Reporter }] = await Promise.all([import('../mesh-client/client.js'), import('../mesh-client/reporter.js')]);
    this.meshClient = new MeshClient({
      address,
      node: {
        id: `${hostname()}/${process.pid}`,
        service: opts.service ?? '',
        namespace: opts.namespace,
        address: opts.appPort === undefined ? '' : `${reachableAddress(opts.bindAddress)}:${opts.ports.inbound}`,
      },
      log: opts.log,
      tokenFile: opts.tokenFile,
      apply: (snapshot, meshServices) => this.apply(snapshot, meshServices),
      rejected: (issues) => {
        this.rejected = issues;
      },
      reporter: new Reporter(this.telemetry.mesh),
    });
    this.meshClient.start();
    if (this.plan === undefined) {
      opts.log.info(`waiting for the first config from the control plane at ${address}`);
      await this.meshClient.ready;
    }
  }

  /** `meshServices`: the callers inbound metrics may name; with file config, the snapshot's services. */
  private apply(snapshot: Snapshot, meshServices: ReadonlySet<string> = new Set(snapshot.services.keys())): void {
    this.plan = buildPlan(snapshot, this.opts, this.clusters, this.telemetry.mesh, meshServices);
    if (this.plan.trace.percentage > 0 || this.tracing.exporting) this.tracingLoaded = this.tracing.enable();
    this.rejected = [];
    const { service, namespace, log } = this.opts;
    if (service !== undefined && !snapshot.services.has(`${service}.${namespace}`)) {
      log.warn(`service ${service}.${namespace} is not defined in the config (no MeshService of that name)`);
    }
    log.info(`config version ${snapshot.version} applied: ${snapshot.services.size} services, ${snapshot.httpRoutes.length} HTTPRoutes`);
  }

  private async reload(): Promise<void> {
    if (this.draining) return;
    const { opts } = this;
    const result = await loadConfig([opts.configPath!], { defaultNamespace: opts.namespace, cache: this.yaml });
    if (result.ok) {
      if (result.snapshot.version !== this.plan?.snapshot.version) this.apply(result.snapshot);
      else if (this.rejected.length > 0) {
        // The broken change was undone: the files are the serving version again.
        this.rejected = [];
        opts.log.info(`config back to version ${result.snapshot.version}`);
      }
      return;
    }
    this.rejected = result.errors;
    for (const issue of result.errors) opts.log.error(formatIssue(issue));
    opts.log.error(`config rejected (${result.errors.length} problems); still serving version ${this.plan?.snapshot.version}`);
  }

  /** SIGUSR1 (logrotate): continue the access log in a new file at the same path. */
  reopenAccessLog(): void {
    this.accessLog.reopen();
    this.opts.log.info('access log reopened');
  }

  /** Stops accepting, lets in-flight requests finish within the drain time, then closes everything. */
  async stop(): Promise<void> {
    const { log, drainTimeoutMs } = this.opts;
    this.draining = true;
    this.watcher?.close();
    this.meshClient?.close();
    for (const s of this.dataServers) s.close();
    const deadline = Date.now() + drainTimeoutMs;
    while (this.inFlight > 0 && Date.now() < deadline) {
      for (const s of this.dataServers) s.closeIdle();
      await new Promise((res) => setTimeout(res, 25));
    }
    const timedOut = this.inFlight > 0;
    if (timedOut) log.warn(`drain time ${drainTimeoutMs} ms passed with ${this.inFlight} requests in flight: closing them`);
    for (const s of this.dataServers) s.closeAll();
    // What closeAll cut (tunnels, cut answers) ends on the sockets' close events: let it reach the access log.
    for (let i = 0; i < 20 && this.inFlight > 0; i++) await new Promise((res) => setTimeout(res, 10));
    for (const s of [this.adminServer, this.statsServer]) {
      s?.closeAllConnections();
      s?.close();
    }
    await this.clusters.close(timedOut);
    await this.accessLog.close();
    await this.tracing.shutdown();
    log.info('stopped');
  }
}

/**
 * The address callers reach the inbound listener at, for /api/v1/sidecars: a wildcard bind (`0.0.0.0`,
 * `::`) says nothing, so it is the host's first external IPv4 address (a pod's IP), else loopback.
 */
export function reachableAddress(bindAddress: string): string {
  if (bindAddress !== '0.0.0.0' && bindAddress !== '::') return bindAddress.includes(':') ? `[${bindAddress}]` : bindAddress;
  const external = Object.values(networkInterfaces()).flat().find((i) => i !== undefined && i.family === 'IPv4' && !i.internal);
  return external?.address ?? '127.0.0.1';
}
