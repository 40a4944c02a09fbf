// The control plane: the config store, the gRPC server (config streams and telemetry reports) on 15010,
// and the HTTP API on 15014.
import * as grpc from '@grpc/grpc-js';
import type { Server } from 'node:http';
import { quote, type Logger } from '../../src/diagnostics.js';
import { meshControl, type ConfigRequest, type ConfigResponse, type TapBatch, type TapCommand, type TapEvent, type TapRequest, type TelemetryReport } from '../proto/index.js';
import type { Authenticator } from './auth.js';
import { ConfigStore } from './config-store.js';
import { createApiServer, type GraphHandler } from './http-api.js';
import { ControlPlaneMetrics } from './metrics.js';
import { SidecarStream, type SidecarStatus } from './push.js';
import { listen } from '../../src/proxy/listeners/listen.js';
import { withSharedResourceEncoding } from './response-encoding.js';
import { checkReport, claimedService, nodeProblem } from './sidecar-input.js';
import { TapBroker } from './tap-broker.js';
import { checkTapRequest } from './tap-http.js';

/** Open config streams at most (a bench of 2,000 sidecars fits five times); past it a new one is refused. */
export const MAX_STREAMS = 10_000;
/** Requests a stream may send before its token is checked. */
const MAX_EARLY_REQUESTS = 8;
/**
 * Largest message a client may send (grpc-js decodes it before anything can look at it: about 0.2 s of
 * CPU for 1 MiB of numbers). A report of MAX_REPORT_EDGES edges with 30-character names is 0.6 MB.
 */
export const MAX_MESSAGE_BYTES = 1024 * 1024;

export interface ControlPlaneOptions {
  readonly configPath: string;
  readonly bindAddress: string;
  readonly grpcPort: number;
  readonly httpPort: number;
  readonly reportIntervalMs: number;
  readonly log: Logger;
  /** Who a sidecar is: NO_AUTH believes its node; a token file checks its token. */
  readonly auth: Authenticator;
  /** Takes every sidecar report (the in-memory graph), or ignores them when the graph comes from Prometheus. */
  readonly ingest: (report: TelemetryReport) => void;
  readonly graph: GraphHandler;
}

export class ControlPlane {
  readonly metrics: ControlPlaneMetrics;
  private readonly streams = new Set<SidecarStream>();
  /** Open streams by node id, for their reports: several when clients claim one id. */
  private readonly byId = new Map<string, Set<SidecarStream>>();
  private readonly store: ConfigStore;
  private readonly grpcServer = new grpc.Server({
    // Sidecars are long-lived clients: detect a vanished one within a minute, allow their keepalives.
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.http2.min_ping_interval_without_data_ms': 10_000,
    'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
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
        this.onReport(call).then(
          (refused) => {
            if (refused !== undefined) this.metrics.refused.inc({ status: grpc.status[refused.code!] });
            cb(refused ?? null, refused === undefined ? {} : undefined);
          },
          (err: Error) => {
            opts.log.error(`report failed: ${err.stack ?? err.message}`);
            cb({ code: grpc.status.INTERNAL, details: 'internal error' });
          },
        );
      },
      TapChannel: (call: grpc.ServerDuplexStream<TapBatch, TapCommand>) => this.openTapChannel(call),
      Tap: (call: grpc.ServerWritableStream<TapRequest, TapEvent>) => this.openTap(call),
    });
    await new Promise<void>((resolve, reject) => {
      this.grpcServer.bindAsync(`${opts.bindAddress}:${opts.grpcPort}`, grpc.ServerCredentials.createInsecure(), (err) =>
        err === null ? resolve() : reject(new Error(`cannot open the gRPC port ${opts.bindAddress}:${opts.grpcPort}: ${err.message}`)));
    });
    this.httpServer = createApiServer({ store: this.store, metrics: this.metrics, sidecars: () => this.sidecars(), graph: opts.graph, tap: this.tap, log: opts.log });
    await listen(this.httpServer, opts.httpPort, opts.bindAddress, 'HTTP');
    opts.log.info(`listening: gRPC ${opts.bindAddress}:${opts.grpcPort}, HTTP ${opts.bindAddress}:${opts.httpPort}`);
    if (!opts.auth.required) opts.log.warn(`no --token-file: any client that reaches ${opts.bindAddress}:${opts.grpcPort} gets config and is believed about which sidecar it is`);
  }

  private openStream(call: grpc.ServerDuplexStream<ConfigRequest, ConfigResponse>): void {
    const { opts } = this;
    let stream: SidecarStream | undefined;
    const early: ConfigRequest[] = [];
    const close = (): void => {
      if (stream === undefined || !this.streams.delete(stream)) return;
      const id = stream.id;
      if (id !== undefined) {
        const same = this.byId.get(id);
        same?.delete(stream);
        if (same?.size === 0) this.byId.delete(id);
        opts.log.info(`sidecar ${quote(id)} disconnected`);
      }
      call.end();
    };
    const onRequest = (req: ConfigRequest): void => {
      try {
        const known = stream!.id !== undefined;
        stream!.onRequest(req);
        if (!known && stream!.id !== undefined) {
          const same = this.byId.get(stream!.id) ?? new Set();
          this.byId.set(stream!.id, same.add(stream!));
        }
      } catch (err) {
        opts.log.error(`config stream failed: ${(err as Error).stack ?? String(err)}`);
        stream!.refuse(grpc.status.INTERNAL, 'internal error');
      }
    };
    /** Ends a stream that has no SidecarStream yet (that one refuses its own). */
    const refuse = (code: grpc.status, details: string): void => {
      this.metrics.refused.inc({ status: grpc.status[code] });
      call.emit('error', { code, details });
    };
    // Requests that come while the token is checked wait for it, in order (a sidecar sends one).
    let flooded = false;
    call.on('data', (req: ConfigRequest) => {
      if (stream !== undefined) onRequest(req);
      else if (early.length < MAX_EARLY_REQUESTS) early.push(req);
      else if (!flooded) {
        flooded = true;
        refuse(grpc.status.RESOURCE_EXHAUSTED, 'too many requests before the token was checked');
      }
    });
    call.on('end', close);
    call.on('error', close);
    call.on('cancelled', close);
    void opts.auth.authenticate(call.metadata).then((proof) => {
      if (call.cancelled || call.destroyed || flooded) return;
      if (!proof.ok) return refuse(grpc.status.UNAUTHENTICATED, proof.why);
      if (this.streams.size >= MAX_STREAMS) return refuse(grpc.status.RESOURCE_EXHAUSTED, `this control plane serves at most ${MAX_STREAMS} sidecars`);
      stream = new SidecarStream(call, () => this.store.views, this.metrics, opts.reportIntervalMs, opts.log, proof.service);
      this.streams.add(stream);
      for (const req of early.splice(0)) onRequest(req);
    });
  }

  /** A sidecar's tap channel, taken once its token is checked as its config stream's is. */
  private openTapChannel(call: grpc.ServerDuplexStream<TapBatch, TapCommand>): void {
    void this.opts.auth.authenticate(call.metadata).then((proof) => {
      if (call.cancelled || call.destroyed) return;
      if (!proof.ok) {
        this.metrics.refused.inc({ status: grpc.status[grpc.status.UNAUTHENTICATED] });
        call.emit('error', { code: grpc.status.UNAUTHENTICATED, details: proof.why });
        return;
      }
      this.tap.openChannel(call, proof.service);
    });
  }

  /**
   * `meshlight tap`: a known service's requests until its max, or until the caller cancels. Like the HTTP
   * API (and /api/v1/tap), it asks for no token: bind the ports to a trusted network.
   */
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

  /** Undefined when the report was taken (its edges checked one by one); else why it was refused as a whole. */
  private async onReport(call: grpc.ServerUnaryCall<TelemetryReport, object>): Promise<Partial<grpc.StatusObject> | undefined> {
    const proof = await this.opts.auth.authenticate(call.metadata);
    if (!proof.ok) return { code: grpc.status.UNAUTHENTICATED, details: proof.why };
    const report = call.request;
    const problem = nodeProblem(report.node);
    if (problem !== undefined) return { code: grpc.status.INVALID_ARGUMENT, details: problem };
    const node = report.node!;
    const claimed = claimedService(node);
    if (proof.service !== undefined && claimed !== proof.service) {
      return { code: grpc.status.PERMISSION_DENIED, details: `this token is ${proof.service}'s; the report's node says ${claimed ?? 'no service'}` };
    }
    const sender = proof.service ?? claimed;
    const services = this.store.views.snapshot.services;
    const checked = checkReport(report, sender, (s) => services.has(s));
    this.metrics.reports.inc();
    this.metrics.reportEdges.inc(checked.report.edges.length);
    for (const [reason, n] of checked.rejected) this.metrics.reportEdgesRejected.inc({ reason }, n);
    const at = new Date().toISOString();
    for (const s of this.byId.get(node.id) ?? []) if (s.service === sender) s.lastReportAt = at;
    this.opts.ingest(checked.report);
    return undefined;
  }

  /** A new config: every sidecar whose view changed gets it. */
  private pushAll(): void {
    for (const s of this.streams) s.push();
  }

  sidecars(): SidecarStatus[] {
    const out: SidecarStatus[] = [];
    for (const s of this.streams) {
      const status = s.status();
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
