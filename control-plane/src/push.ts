// The config stream of each sidecar, with xDS state-of-the-world semantics: every response carries a
// version and a nonce; the sidecar's next request with that nonce is its ACK (version = the one sent) or
// NACK (version = the one it kept, plus error_detail). A subscription change or a config change
// recomputes the sidecar's view, and only a changed view is sent.
import * as grpc from '@grpc/grpc-js';
import type { ConfigRequest, ConfigResponse, Node } from '../proto/index.js';
import { quote, type Logger } from '../../src/diagnostics.js';
import type { ControlPlaneMetrics } from './metrics.js';
import type { ConfigViews, View } from './views.js';
import { claimedService, MAX_NACK_CHARS, MAX_SUBSCRIPTION, nodeProblem, requestProblem } from './sidecar-input.js';

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
  /** Where the stream comes from, as the control plane sees it: tells apart two streams claiming one id. */
  readonly peer: string;
  /** True when the sidecar proved its service with a token (--token-file); false: it is taken at its word. */
  readonly authenticated: boolean;
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
  /** `name.namespace` of the sidecar's own service: the one it proved, else the one its first request claims. */
  private self: string | undefined;
  private refused = false;
  lastReportAt: string | null = null;
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
    /** The service the stream's token proves; undefined without authentication. */
    private readonly proven: string | undefined,
  ) {}

  get id(): string | undefined {
    return this.node?.id;
  }

  /** The sidecar's service as this stream established it (see `self`). */
  get service(): string | undefined {
    return this.self;
  }

  /** Ends the stream with a status; grpc-js sends a server stream's emitted error as its status. */
  refuse(code: grpc.status, details: string): void {
    if (this.refused) return;
    this.refused = true;
    this.metrics.refused.inc({ status: grpc.status[code] });
    this.call.emit('error', { code, details });
  }

  onRequest(req: ConfigRequest): void {
    if (this.refused) return;
    const first = this.node === undefined;
    const problem = (first ? nodeProblem(req.node) : undefined) ?? requestProblem(req);
    if (problem !== undefined) return this.refuse(grpc.status.INVALID_ARGUMENT, problem);
    if (first) {
      const node = req.node!;
      const claimed = claimedService(node);
      if (this.proven !== undefined && claimed !== this.proven) {
        return this.refuse(grpc.status.PERMISSION_DENIED, `this token is ${this.proven}'s; the node says ${claimed ?? 'no service'} (start the sidecar with --service ${this.proven.split('.')[0]})`);
      }
      this.node = node;
      this.self = this.proven ?? claimed;
      this.log.info(`sidecar ${quote(node.id)} connected (${this.self ?? 'no service'}${this.proven !== undefined ? ', token checked' : ''}), running version ${quote(req.version_info)}`);
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
      const error = req.error_detail.message.slice(0, MAX_NACK_CHARS);
      // A NACK's version_info is the version the sidecar kept and still serves (xDS); the one it refused is ours.
      this.lastNack = { version: req.version_info, rejected: sent.version, at, error };
      this.metrics.nacks.inc();
      this.log.warn(`sidecar ${quote(this.node!.id)} rejected version ${sent.version} (keeps ${quote(req.version_info)}): ${quote(error, MAX_NACK_CHARS)}`);
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
      report_interval_ms: this.reportIntervalMs, resource_names: [...this.names], mesh_services: view.services as string[],
    });
  }

  status(): SidecarStatus | undefined {
    const n = this.node;
    if (n === undefined) return undefined;
    const peer = this.call.getPeer();
    return {
      id: n.id,
      service: n.service,
      namespace: n.namespace,
      address: n.address !== '' ? n.address : peer,
      peer,
      authenticated: this.proven !== undefined,
      connectedAt: this.connectedAt,
      subscribed: this.names,
      version: this.sent?.version ?? '',
      synced: this.sent !== undefined && this.lastAck?.version === this.sent.version,
      lastAck: this.lastAck,
      lastNack: this.lastNack,
      lastReportAt: this.lastReportAt,
    };
  }
}
