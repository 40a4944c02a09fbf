// The sidecar's side of the config stream (control-plane/proto): subscribe, apply or reject each
// response (ACK / NACK), reconnect with exponential backoff and full jitter, and report telemetry.
// While disconnected the sidecar keeps serving the last config it applied.
import * as grpc from '@grpc/grpc-js';
import { readFile } from 'node:fs/promises';
import { formatIssue, parseConfig } from '../config/load.js';
import type { ConfigIssue, Snapshot } from '../config/types.js';
import type { Logger } from '../diagnostics.js';
import { meshControl, PUSH_NAMESPACE, type ConfigRequest, type ConfigResponse, type MeshControlClient, type Node } from '../../control-plane/proto/index.js';
import type { Reporter } from './reporter.js';
import { TAP } from '../proxy/tap.js';
import { TapChannel } from './tap-channel.js';

const BACKOFF_BASE_MS = 250;
const BACKOFF_CAP_MS = 5_000;
/** How long a request to a service the sidecar has not heard of waits for the control plane's answer. */
const DISCOVERY_WAIT_MS = 2_000;
/** Services one sidecar may subscribe to; a request for any more is answered from what it has. */
const MAX_SUBSCRIPTION = 1_000;
const NACK_ISSUES = 20;

export interface MeshClientOptions {
  /** `host:port` of the control plane's gRPC port. */
  readonly address: string;
  readonly node: Node;
  readonly log: Logger;
  /**
   * A file holding this sidecar's token (sent as `authorization: Bearer`), read again at every connect
   * and report so a rotated one (a Kubernetes projected token) is picked up; undefined: none is sent.
   */
  readonly tokenFile: string | undefined;
  /**
   * Builds and swaps in the plan; throws if this sidecar cannot apply it (a NACK with the message).
   * `meshServices`: every service of the mesh, the callers inbound metrics may name.
   */
  readonly apply: (snapshot: Snapshot, meshServices: ReadonlySet<string>) => void;
  /** A pushed config did not parse here: its problems, for /config_dump (the NACK carries them too). */
  readonly rejected: (issues: readonly ConfigIssue[]) => void;
  readonly reporter: Reporter;
}

export class MeshClient {
  private readonly client: MeshControlClient;
  private call: grpc.ClientDuplexStream<ConfigRequest, ConfigResponse> | undefined;
  private readonly names = new Set<string>();
  private readonly waiters = new Map<string, (() => void)[]>();
  /** The version applied last ('' before the first). */
  private version = '';
  private attempt = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private reportTimer: NodeJS.Timeout | undefined;
  private reportIntervalMs = 0;
  private closed = false;
  /** Why the last attempt failed, so a refusal repeated at every retry is logged once. */
  private lastRefusal = '';
  connected = false;
  private readonly tap: TapChannel;
  private firstApplied!: () => void;
  /** Resolves once a config from the control plane is in force. */
  readonly ready = new Promise<void>((res) => (this.firstApplied = res));

  constructor(private readonly opts: MeshClientOptions) {
    this.client = new (meshControl().Client)(opts.address, grpc.credentials.createInsecure(), {
      'grpc.keepalive_time_ms': 30_000,
      'grpc.keepalive_timeout_ms': 10_000,
      'grpc.initial_reconnect_backoff_ms': BACKOFF_BASE_MS,
      'grpc.max_reconnect_backoff_ms': BACKOFF_CAP_MS,
    });
    this.tap = new TapChannel(this.client, opts.node, TAP, opts.log);
  }

  start(): void {
    this.connect();
  }

  /** The call metadata carrying the token; a token that cannot be read fails the connect or report (and is retried). */
  private async metadata(): Promise<grpc.Metadata> {
    const metadata = new grpc.Metadata();
    if (this.opts.tokenFile !== undefined) metadata.set('authorization', `Bearer ${(await readFile(this.opts.tokenFile, 'utf8')).trim()}`);
    return metadata;
  }

  private connect(): void {
    if (this.closed) return;
    this.metadata().then((metadata) => this.open(metadata), (err: Error) => {
      this.opts.log.warn(`cannot read --token-file: ${err.message}; retrying`);
      this.retry(`token file: ${err.message}`);
    });
  }

  private open(metadata: grpc.Metadata): void {
    if (this.closed) return;
    const call = this.client.StreamConfig(metadata);
    this.call = call;
    call.on('data', (res: ConfigResponse) => this.onResponse(res));
    call.on('error', (err: grpc.ServiceError) => this.lost(call, err.details || err.message));
    call.on('end', () => this.lost(call, 'stream closed by the control plane'));
    this.send({ version_info: this.version, response_nonce: '', error_detail: null });
    this.tap.open(metadata);
  }

  private send(req: Pick<ConfigRequest, 'version_info' | 'response_nonce' | 'error_detail'>): void {
    this.call?.write({ node: this.opts.node, resource_names: [...this.names], ...req });
  }

  private lost(call: grpc.ClientDuplexStream<ConfigRequest, ConfigResponse>, why: string): void {
    if (call !== this.call || this.closed) return;
    this.call = undefined;
    call.cancel();
    if (this.connected) this.opts.log.warn(`control plane ${this.opts.address} lost (${why}); serving config version ${this.version || '(none)'} meanwhile`);
    else if (why !== this.lastRefusal && /token/.test(why)) this.opts.log.warn(`control plane ${this.opts.address} refused this sidecar: ${why}`);
    this.lastRefusal = why;
    this.connected = false;
    this.tap.close();
    this.retry(why);
  }

  private retry(why: string): void {
    this.releaseWaiters();
    const delay = Math.random() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** this.attempt++);
    this.opts.log.debug(`reconnecting to ${this.opts.address} in ${Math.round(delay)} ms (${why})`);
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  private onResponse(res: ConfigResponse): void {
    if (!this.connected) this.opts.log.info(`control plane ${this.opts.address}: connected, offered version ${res.version_info}`);
    this.connected = true;
    this.attempt = 0;
    this.scheduleReports(res.report_interval_ms);
    const error = res.version_info === this.version ? undefined : this.apply(res);
    if (error === undefined) {
      this.version = res.version_info;
      this.send({ version_info: res.version_info, response_nonce: res.nonce, error_detail: null });
      this.firstApplied();
    } else {
      this.opts.log.error(`config version ${res.version_info} from the control plane rejected; still serving ${this.version || '(none)'}:\n${error}`);
      this.send({ version_info: this.version, response_nonce: res.nonce, error_detail: { message: error } });
    }
    for (const name of res.resource_names) this.wake(name);
  }

  /** Undefined when applied; else why not. */
  private apply(res: ConfigResponse): string | undefined {
    // Blank lines in front keep a problem's LINE that of the control plane's file.
    const sources = res.resources.map((r) => ({ file: r.file, text: '\n'.repeat(Math.max(0, r.line - 1)) + r.yaml }));
    const parsed = parseConfig(sources, { defaultNamespace: PUSH_NAMESPACE });
    if (!parsed.ok) {
      this.opts.rejected(parsed.errors);
      const shown = parsed.errors.slice(0, NACK_ISSUES).map(formatIssue);
      if (parsed.errors.length > NACK_ISSUES) shown.push(`... and ${parsed.errors.length - NACK_ISSUES} more`);
      return shown.join('\n');
    }
    try {
      // A control plane that does not send the mesh's services: the callers this view names are all that is known.
      const meshServices = new Set(res.mesh_services.length > 0 ? res.mesh_services : parsed.snapshot.services.keys());
      this.opts.apply(Object.freeze({ ...parsed.snapshot, version: res.version_info }), meshServices);
      return undefined;
    } catch (err) {
      return (err as Error).message;
    }
  }

  /**
   * A request for `service` (`name.namespace`), which the config in force does not have: asks the
   * control plane for it. Resolves when the answer is in (the service applied, or known not to exist),
   * at once when there is nothing to wait for.
   */
  discover(service: string): Promise<void> {
    if (!this.connected) return Promise.resolve();
    const pending = this.waiters.get(service);
    if (pending !== undefined) return new Promise<void>((resolve) => pending.push(resolve)); // asked already: same answer
    if (this.names.has(service) || this.names.size >= MAX_SUBSCRIPTION) return Promise.resolve();
    this.names.add(service);
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => this.wake(service), DISCOVERY_WAIT_MS);
      this.waiters.set(service, [() => {
        clearTimeout(timer);
        resolve();
      }]);
      this.send({ version_info: this.version, response_nonce: '', error_detail: null });
    });
  }

  private wake(name: string): void {
    const list = this.waiters.get(name);
    if (list === undefined) return;
    this.waiters.delete(name);
    for (const w of list) w();
  }

  private releaseWaiters(): void {
    for (const name of [...this.waiters.keys()]) this.wake(name);
  }

  private scheduleReports(intervalMs: number): void {
    if (intervalMs === this.reportIntervalMs || intervalMs <= 0) return;
    this.reportIntervalMs = intervalMs;
    clearInterval(this.reportTimer);
    this.reportTimer = setInterval(() => this.report(), intervalMs).unref();
  }

  private report(): void {
    if (!this.connected) return; // the counts keep accumulating until the control plane is back
    const { report, commit } = this.opts.reporter.collect();
    report.node = this.opts.node;
    void this.metadata().then((metadata) => {
      this.client.Report(report, metadata, { deadline: Date.now() + this.reportIntervalMs }, (err) => {
        if (err === null) commit();
        else this.opts.log.debug(`telemetry report not delivered (${err.details || err.message}); it goes with the next one`);
      });
    }, (err: Error) => this.opts.log.debug(`telemetry report not sent (token file: ${err.message}); it goes with the next one`));
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    clearInterval(this.reportTimer);
    this.releaseWaiters();
    this.tap.close();
    this.call?.cancel();
    this.client.close();
  }
}
