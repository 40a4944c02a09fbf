// Live tap on the control plane: joins the readers (`meshlight tap` over gRPC, the dashboard over SSE)
// with the tap channels of the sidecars serving the tapped service. A reader's tap is started on every
// such sidecar, those that connect later included, and stopped on all of them when the reader leaves or
// has its `max`. Events reach a reader only while it keeps up: past a small backlog they are dropped and
// the count travels with the next event it gets, so a slow reader costs neither the sidecars nor the
// control plane more than that backlog.
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import type { TapBatch, TapCommand, TapEvent, TapRequest } from '../proto/index.js';
import { PUSH_NAMESPACE } from '../proto/index.js';
import type { Logger } from '../../src/diagnostics.js';
import type { ControlPlaneMetrics } from './metrics.js';
import { claimedService, nodeProblem } from './sidecar-input.js';

/** Where one reader's events go. */
export interface TapReader {
  /** False while the reader's buffer is full; events are dropped (and counted) meanwhile. */
  ready(): boolean;
  send(event: TapEvent): void;
  /** The tap is over (its max was reached): end the reader's stream. */
  end(): void;
}

/** `orders` -> `orders.default`; the key a sidecar's node names its service by. */
export function tapServiceKey(service: string): string {
  return service.includes('.') ? service : `${service}.${PUSH_NAMESPACE}`;
}

export const NOTICE: Omit<TapEvent, 'notice'> = Object.freeze({
  direction: '', method: '', authority: '', path: '', status: 0, latency_ms: 0, flags: '', trace_id: '', request_id: '',
  start_ms: 0, source: '', destination: '', route: '', node: '', dropped: 0,
});

class Watch {
  delivered = 0;
  dropped = 0;
  constructor(readonly id: string, readonly service: string, readonly request: TapRequest, readonly reader: TapReader) {}
}

class SidecarChannel {
  /** The service the channel's node fronts, once its first batch named the node; undefined before (or without --service). */
  service: string | undefined;
  named = false;
  /** `tokenService`: the service its token proves, when the control plane checks tokens. */
  constructor(readonly call: grpc.ServerDuplexStream<TapBatch, TapCommand>, readonly tokenService: string | undefined) {}
}

export class TapBroker {
  private readonly channels = new Set<SidecarChannel>();
  private readonly watches = new Map<string, Watch>();

  constructor(private readonly log: Logger, private readonly metrics: Pick<ControlPlaneMetrics, 'tapRequests' | 'tapDropped' | 'refused'>) {}

  /** Taps being read. */
  get size(): number {
    return this.watches.size;
  }

  /** A sidecar's TapChannel stream, its token (if any) checked. */
  openChannel(call: grpc.ServerDuplexStream<TapBatch, TapCommand>, tokenService: string | undefined): void {
    const ch = new SidecarChannel(call, tokenService);
    this.channels.add(ch);
    call.on('data', (batch: TapBatch) => this.onBatch(ch, batch));
    const close = (): void => {
      if (!this.channels.delete(ch)) return;
      call.end();
    };
    call.on('end', close);
    call.on('error', close);
    call.on('cancelled', close);
  }

  private onBatch(ch: SidecarChannel, batch: TapBatch): void {
    if (!ch.named) {
      const problem = nodeProblem(batch.node);
      const claimed = problem === undefined ? claimedService(batch.node!) : undefined;
      if (problem !== undefined) return this.refuse(ch, grpc.status.INVALID_ARGUMENT, problem);
      if (ch.tokenService !== undefined && claimed !== ch.tokenService) {
        return this.refuse(ch, grpc.status.PERMISSION_DENIED, `this token is ${ch.tokenService}'s; the node says ${claimed ?? 'no service'}`);
      }
      ch.named = true;
      ch.service = claimed;
      for (const w of this.watches.values()) if (w.service === ch.service) this.startOn(ch, w);
      return;
    }
    const w = this.watches.get(batch.tap_id);
    if (w === undefined || w.service !== ch.service) return; // a stopped tap's last batch, or not this sidecar's tap
    w.dropped += batch.dropped;
    this.metrics.tapDropped.inc(batch.dropped);
    for (const e of batch.events) {
      if (w.request.max > 0 && w.delivered >= w.request.max) break;
      if (!w.reader.ready()) {
        w.dropped++;
        this.metrics.tapDropped.inc();
        continue;
      }
      w.reader.send({ ...e, dropped: w.dropped });
      w.dropped = 0;
      w.delivered++;
      this.metrics.tapRequests.inc();
    }
    if (w.request.max > 0 && w.delivered >= w.request.max) {
      this.unwatch(w.id);
      w.reader.end();
    }
  }

  /** Starts a tap for `reader`; returns its id, for unwatch(). `service` must be a known service key. */
  watch(request: TapRequest, reader: TapReader): string {
    const w = new Watch(randomUUID(), tapServiceKey(request.service), { ...request, method: request.method.toUpperCase() }, reader);
    this.watches.set(w.id, w);
    let tapped = 0;
    for (const ch of this.channels) {
      if (ch.service !== w.service) continue;
      this.startOn(ch, w);
      tapped++;
    }
    const what = `${w.service}${w.request.method === '' ? '' : ` ${w.request.method}`}${w.request.path_prefix === '' ? '' : ` ${w.request.path_prefix}*`}`;
    reader.send({
      ...NOTICE,
      notice: tapped === 0 ? `tapping ${what}: no sidecar of ${w.service} is connected yet; waiting for one` : `tapping ${what} on ${tapped} sidecar${tapped === 1 ? '' : 's'}`,
    });
    this.log.info(`tap ${w.id}: ${what} on ${tapped} sidecars`);
    return w.id;
  }

  unwatch(id: string): void {
    const w = this.watches.get(id);
    if (w === undefined) return;
    this.watches.delete(id);
    for (const ch of this.channels) if (ch.service === w.service) ch.call.write({ tap_id: id, request: null, stop: true });
    this.log.info(`tap ${id} ended after ${w.delivered} requests`);
  }

  private refuse(ch: SidecarChannel, code: grpc.status, details: string): void {
    this.metrics.refused.inc({ status: grpc.status[code] });
    this.channels.delete(ch);
    ch.call.emit('error', { code, details });
  }

  private startOn(ch: SidecarChannel, w: Watch): void {
    ch.call.write({ tap_id: w.id, request: w.request, stop: false });
  }

  close(): void {
    for (const ch of this.channels) ch.call.end();
    for (const w of this.watches.values()) w.reader.end();
    this.channels.clear();
    this.watches.clear();
  }
}
