// The config stream of each sidecar, with xDS state-of-the-world semantics: every response carries a
// version and a nonce; the sidecar's next request with that nonce is its ACK (version = the one sent) or
// NACK (version = the one it kept, plus error_detail). A subscription change or a config change
// recomputes the sidecar's view, and only a changed view is sent.
import * as grpc from '@grpc/grpc-js';
import type { ConfigRequest, ConfigResponse, Node } from '../proto/index.js';
import type { Logger } from '../../src/diagnostics.js';
import type { ControlPlaneMetrics } from './metrics.js';
import type { ConfigViews, View } from './views.js';
import { PUSH_NAMESPACE } from '../proto/index.js';

/** Past this many services a sidecar's subscription is cut: a runaway app must not grow every view. */
const MAX_SUBSCRIPTION = 1_000;

export interface Applied {
  readonly version: string;
  readonly at: string;
}

/** What /api/v1/sidecars shows of one sidecar. */
export interface SidecarStatus {
  readonly id: string;
  readonly service: string;
  readonly namespace: string;
  readonly address: string;
  readonly connectedAt: string;
  readonly subscribed: readonly string[];
  /** The version last sent, and whether the sidecar runs it. */
  readonly version: string;
  readonly synced: boolean;
  readonly lastAck: Applied | null;
  /** `version`: the one the sidecar kept and serves; `rejected`: the one it refused. */
  readonly lastNack: (Applied & { readonly rejected: string; readonly error: string }) | null;
  readonly lastReportAt: string | null;
}

let nonces = 0;

export class SidecarStream {
  private node: Node | undefined;
  /** `name.namespace` of the sidecar's own service, known from its first request. */
  private self: string | undefined;
  private names: readonly string[] = [];
  private namesKey = '';
  private sent: { version: string; nonce: string; at: bigint } | undefined;
  private lastAck: Applied | null = null;
  private lastNack: (Applied & { rejected: string; error: string }) | null = null;
  private readonly connectedAt = new Date().toISOString();

  constructor(
    private readonly call: grpc.ServerDuplexStream<ConfigRequest, ConfigResponse>,
    private readonly views: () => ConfigViews,
    private readonly metrics: ControlPlaneMetrics,
    private readonly reportIntervalMs: number,
    private readonly log: Logger,
  ) {}

  get id(): string | undefined {
    return this.node?.id;
  }

  onRequest(req: ConfigRequest): void {
    const first = this.node === undefined;
    if (first) {
      if (req.node === null || req.node.id === '') {
        // grpc-js ends a server stream with a status when one is emitted as its error.
        this.call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: 'the first request of a stream must name its node (node.id)' });
        return;
      }
      this.node = req.node;
      this.self = req.node.service === '' ? undefined : `${req.node.service}.${req.node.namespace === '' ? PUSH_NAMESPACE : req.node.namespace}`;
      this.log.info(`sidecar ${req.node.id} connected (${this.self ?? 'no service'}), running version '${req.version_info}'`);
    }
    if (this.sent !== undefined && req.response_nonce === this.sent.nonce) this.answered(req);
    const names = [...new Set(req.resource_names)].sort().slice(0, MAX_SUBSCRIPTION);
    const namesKey = names.join(',');
    const resubscribed = namesKey !== this.namesKey;
    this.names = names;
    this.namesKey = namesKey;
    // A stream's first request and every subscription change get an answer, changed view or not: the
    // sidecar waits on it to learn whether a service it asked for exists.
    if (first || resubscribed) this.push(true);
  }

  private answered(req: ConfigRequest): void {
    const sent = this.sent!;
    const at = new Date().toISOString();
    if (req.error_detail !== null) {
      // A NACK's version_info is the version the sidecar kept and still serves (xDS); the one it refused is ours.
      this.lastNack = { version: req.version_info, rejected: sent.version, at, error: req.error_detail.message };
      this.metrics.nacks.inc();
      this.log.warn(`sidecar ${this.node!.id} rejected version ${sent.version} (keeps '${req.version_info}'): ${req.error_detail.message}`);
    } else if (req.version_info === sent.version) {
      this.lastAck = { version: sent.version, at };
      this.metrics.acks.inc();
      this.metrics.convergence.observe(Number(process.hrtime.bigint() - sent.at) / 1e9);
    }
  }

  /** Sends the sidecar its view if it changed since the last send (or always, with `force`). */
  push(force = false): void {
    if (this.node === undefined) return;
    const view: View = this.views().viewFor(this.self, this.names);
    if (!force && view.version === this.sent?.version) return;
    const nonce = String(++nonces);
    this.sent = { version: view.version, nonce, at: process.hrtime.bigint() };
    this.metrics.pushes.inc();
    this.call.write({
      version_info: view.version, nonce, resources: view.resources as ConfigResponse['resources'],
      report_interval_ms: this.reportIntervalMs, resource_names: [...this.names],
    });
  }

  /** `reportedAt`: the last telemetry report time by node id. */
  status(reportedAt: ReadonlyMap<string, string>): SidecarStatus | undefined {
    const n = this.node;
    if (n === undefined) return undefined;
    return {
      id: n.id,
      service: n.service,
      namespace: n.namespace,
      address: n.address !== '' ? n.address : this.call.getPeer(),
      connectedAt: this.connectedAt,
      subscribed: this.names,
      version: this.sent?.version ?? '',
      synced: this.sent !== undefined && this.lastAck?.version === this.sent.version,
      lastAck: this.lastAck,
      lastNack: this.lastNack,
      lastReportAt: reportedAt.get(n.id) ?? null,
    };
  }
}
