// Live tap (`meshlight tap`, the dashboard): copies of finished requests for whoever taps this sidecar's
// service through the control plane. The data path pays one boolean check per request (`TAP.on`) while
// no one taps. While someone does, a matching request is a small object pushed into a bounded buffer that
// a timer hands to the sink in batches; when the sink (the gRPC channel) cannot take more, the buffer
// fills and further requests are dropped and counted, so a slow reader never slows a request.
import type { TapBatch, TapEvent, TapRequest } from '../../control-plane/proto/index.js';
import type { LoggedRequest } from '../telemetry/access-log.js';
import type { RouteSeries } from '../telemetry/mesh-metrics.js';

/** What the tap reads of a finished request: the access log's fields and the metric labels. */
export interface TappedRequest extends LoggedRequest {
  readonly series: RouteSeries | undefined;
}

/** Where batches go (the sidecar's tap channel to the control plane). */
export interface TapSink {
  /** False while the channel's own buffer is full: batches wait (and the tap's buffer fills) meanwhile. */
  ready(): boolean;
  send(batch: TapBatch): void;
}

export const TAP_DEFAULTS = Object.freeze({ maxBuffered: 1_000, flushMs: 50 });

class ActiveTap {
  buffered: TapEvent[] = [];
  dropped = 0;
  /** Requests taken so far; past `max` (when > 0) the tap takes no more. */
  taken = 0;
  constructor(readonly id: string, readonly request: TapRequest) {}

  matches(req: TappedRequest): boolean {
    const { path_prefix, method, max } = this.request;
    return (max === 0 || this.taken < max) && (method === '' || method === req.method) && (path_prefix === '' || req.originalPath.startsWith(path_prefix));
  }
}

export class TapPoint {
  /** The only thing the data path reads while nobody taps. */
  on = false;
  private readonly taps = new Map<string, ActiveTap>();
  private timer: NodeJS.Timeout | undefined = undefined;

  constructor(
    private sink: TapSink | undefined = undefined,
    private node = '',
    private readonly opts: { readonly maxBuffered: number; readonly flushMs: number } = TAP_DEFAULTS,
  ) {}

  /** A new channel to the control plane; every tap of the old one ends with it. */
  attach(sink: TapSink | undefined, node: string): void {
    this.sink = sink;
    this.node = node;
    this.taps.clear();
    this.on = false;
  }

  start(id: string, request: TapRequest): void {
    this.taps.set(id, new ActiveTap(id, { ...request, method: request.method.toUpperCase() }));
    this.on = true;
  }

  stop(id: string): void {
    this.taps.delete(id);
    this.on = this.taps.size > 0;
  }

  /** Called once per finished request, and only while `on`. */
  record(req: TappedRequest, durationMs: number): void {
    let event: TapEvent | undefined;
    for (const tap of this.taps.values()) {
      if (!tap.matches(req)) continue;
      tap.taken++;
      if (tap.buffered.length >= this.opts.maxBuffered) {
        tap.dropped++;
        continue;
      }
      tap.buffered.push((event ??= this.event(req, durationMs)));
    }
    if (event !== undefined && this.timer === undefined) {
      this.timer = setTimeout(flushTaps, this.opts.flushMs, this);
      this.timer.unref();
    }
  }

  /** Hands each tap's buffer to the sink, unless the sink is full (then it waits for the next flush). */
  flush(): void {
    this.timer = undefined;
    const sink = this.sink;
    let waiting = false;
    for (const tap of this.taps.values()) {
      if (tap.buffered.length === 0 && tap.dropped === 0) continue;
      if (sink === undefined || !sink.ready()) {
        waiting = true;
        continue;
      }
      sink.send({ node: null, tap_id: tap.id, events: tap.buffered, dropped: tap.dropped });
      tap.buffered = [];
      tap.dropped = 0;
    }
    if (waiting && this.sink !== undefined) {
      this.timer = setTimeout(flushTaps, this.opts.flushMs, this);
      this.timer.unref();
    }
  }

  private event(req: TappedRequest, durationMs: number): TapEvent {
    const s = req.series;
    return {
      direction: s?.reporter === 'source' ? 'outbound' : 'inbound',
      method: req.method, authority: req.authority, path: req.originalPath + req.originalQuery, status: req.status,
      latency_ms: Math.round(durationMs * 1000) / 1000, flags: req.flag ?? '-', trace_id: req.traceId ?? '', request_id: req.requestId,
      start_ms: req.startMs, source: s?.source ?? req.sourceService, destination: s?.destination ?? req.upstreamService ?? '',
      route: req.routeName ?? '', node: this.node, dropped: 0, notice: '',
    };
  }
}

function flushTaps(point: TapPoint): void {
  point.flush();
}

/** The sidecar process's tap point: the exchange checks `TAP.on` as a request finishes. */
export const TAP = new TapPoint();
