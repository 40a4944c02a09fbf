// The control plane: the config store, the gRPC server (config streams and telemetry reports) on 15010,
// and the HTTP API on 15014.
import * as grpc from '@grpc/grpc-js';
import type { Server } from 'node:http';
import type { Logger } from '../../src/diagnostics.js';
import { meshControl, type ConfigRequest, type ConfigResponse, type TapBatch, type TapCommand, type TapEvent, type TapRequest, type TelemetryReport } from '../proto/index.js';
import { ConfigStore } from './config-store.js';
import { createApiServer, type GraphHandler } from './http-api.js';
import { ControlPlaneMetrics } from './metrics.js';
import { SidecarStream, type SidecarStatus } from './push.js';
import { listen } from '../../src/proxy/listeners/listen.js';
import { withSharedResourceEncoding } from './response-encoding.js';
import { TapBroker } from './tap-broker.js';
import { checkTapRequest } from './tap-http.js';

export interface ControlPlaneOptions {
  readonly configPath: string;
  readonly bindAddress: string;
  readonly grpcPort: number;
  readonly httpPort: number;
  readonly reportIntervalMs: number;
  readonly log: Logger;
  /** Takes every sidecar report (the in-memory graph), or ignores them when the graph comes from Prometheus. */
  readonly ingest: (report: TelemetryReport) => void;
  readonly graph: GraphHandler;
}

export class ControlPlane {
  readonly metrics: ControlPlaneMetrics;
  private readonly streams = new Set<SidecarStream>();
  /** When each connected sidecar (by node id) last reported telemetry. */
  private readonly reportedAt = new Map<string, string>();
  private readonly store: ConfigStore;
  private readonly grpcServer = new grpc.Server({
    // Sidecars are long-lived clients: detect a vanished one within a minute, allow their keepalives.
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.http2.min_ping_interval_without_data_ms': 10_000,
  });
  private httpServer: Server | undefined;
  private readonly tap: TapBroker;

  constructor(private readonly opts: ControlPlaneOptions) {
    this.store = new ConfigStore(opts.configPath, opts.log, () => this.pushAll());
    this.metrics = new ControlPlaneMetrics({
      connectedSidecars: () => this.streams.size, configRejected: () => this.store.rejected.length > 0, activeTaps: () => this.tap.size,
    });
    this.tap = new TapBroker(opts.log, this.metrics);
  }

  async start(): Promise<void> {
    const { opts } = this;
    await this.store.start();
    this.grpcServer.addService(withSharedResourceEncoding(meshControl().service), {
      StreamConfig: (call: grpc.ServerDuplexStream<ConfigRequest, ConfigResponse>) => this.openStream(call),
      Report: (call: grpc.ServerUnaryCall<TelemetryReport, object>, cb: grpc.sendUnaryData<object>) => {
        this.onReport(call.request);
        cb(null, {});
      },
      TapChannel: (call: grpc.ServerDuplexStream<TapBatch, TapCommand>) => this.tap.openChannel(call),
      Tap: (call: grpc.ServerWritableStream<TapRequest, TapEvent>) => this.openTap(call),
    });
    await new Promise<void>((resolve, reject) => {
      this.grpcServer.bindAsync(`${opts.bindAddress}:${opts.grpcPort}`, grpc.ServerCredentials.createInsecure(), (err) =>
        err === null ? resolve() : reject(new Error(`cannot open the gRPC port ${opts.bindAddress}:${opts.grpcPort}: ${err.message}`)));
    });
    this.httpServer = createApiServer({ store: this.store, metrics: this.metrics, sidecars: () => this.sidecars(), graph: opts.graph, tap: this.tap });
    await listen(this.httpServer, opts.httpPort, opts.bindAddress, 'HTTP');
    opts.log.info(`listening: gRPC ${opts.bindAddress}:${opts.grpcPort}, HTTP ${opts.bindAddress}:${opts.httpPort}`);
  }

  private openStream(call: grpc.ServerDuplexStream<ConfigRequest, ConfigResponse>): void {
    const stream = new SidecarStream(call, () => this.store.views, this.metrics, this.opts.reportIntervalMs, this.opts.log);
    this.streams.add(stream);
    call.on('data', (req: ConfigRequest) => stream.onRequest(req));
    const close = (): void => {
      if (!this.streams.delete(stream)) return;
      if (stream.id !== undefined) {
        this.reportedAt.delete(stream.id);
        this.opts.log.info(`sidecar ${stream.id} disconnected`);
      }
      call.end();
    };
    call.on('end', close);
    call.on('error', close);
    call.on('cancelled', close);
  }

  /** `meshlight tap`: a known service's requests until its max, or until the caller cancels. */
  private openTap(call: grpc.ServerWritableStream<TapRequest, TapEvent>): void {
    const problem = checkTapRequest(call.request, this.store.views.snapshot);
    if (problem !== undefined) {
      call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: problem });
      return;
    }
    const id = this.tap.watch(call.request, { ready: () => !call.writableNeedDrain, send: (e) => call.write(e), end: () => call.end() });
    call.on('cancelled', () => this.tap.unwatch(id));
    call.on('close', () => this.tap.unwatch(id));
  }

  private onReport(report: TelemetryReport): void {
    this.metrics.reports.inc();
    this.metrics.reportEdges.inc(report.edges.length);
    const id = report.node?.id;
    if (id !== undefined) this.reportedAt.set(id, new Date().toISOString());
    this.opts.ingest(report);
  }

  /** A new config: every sidecar whose view changed gets it. */
  private pushAll(): void {
    for (const s of this.streams) s.push();
  }

  sidecars(): SidecarStatus[] {
    const out: SidecarStatus[] = [];
    for (const s of this.streams) {
      const status = s.status(this.reportedAt);
      if (status !== undefined) out.push(status);
    }
    return out.sort((a, b) => a.service.localeCompare(b.service) || a.id.localeCompare(b.id));
  }

  async stop(): Promise<void> {
    this.store.close();
    this.tap.close();
    this.httpServer?.closeAllConnections();
    this.httpServer?.close();
    this.grpcServer.forceShutdown();
  }
}
