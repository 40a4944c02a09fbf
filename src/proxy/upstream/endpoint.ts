// One upstream host: its keep-alive pool (the engine's) and what /clusters shows about it.
import { EndpointPool, POOL_DEFAULTS, type PoolOptions } from '../http1/upstream.js';

/** After a failed connect, skip the endpoint this long unless nothing else is left (Envoy's panic mode). */
const UNREACHABLE_MS = 5_000;

export interface EndpointOptions {
  readonly connectTimeoutMs: number;
}

export class EndpointState {
  readonly pool: EndpointPool;
  active = 0;
  requests = 0;
  errors = 0;
  connectFailures = 0;
  unreachableUntil = 0;
  lastError = '';

  constructor(
    readonly address: string,
    readonly labels: Readonly<Record<string, string>>,
    opts: EndpointOptions,
  ) {
    const pool: PoolOptions = { ...POOL_DEFAULTS, connectTimeoutMs: opts.connectTimeoutMs };
    this.pool = new EndpointPool(address, pool);
  }

  available(now: number): boolean {
    return this.unreachableUntil <= now;
  }

  markUnreachable(now: number, reason: string): void {
    this.connectFailures++;
    this.unreachableUntil = now + UNREACHABLE_MS;
    this.lastError = reason;
  }

  markReachable(): void {
    this.unreachableUntil = 0;
  }

  toJSON(): object {
    const now = Date.now();
    return {
      address: this.address,
      labels: this.labels,
      state: this.available(now) ? 'healthy' : 'unreachable',
      active_requests: this.active,
      requests_total: this.requests,
      errors_total: this.errors,
      connect_failures_total: this.connectFailures,
      pool: { connected: this.pool.connected, running: this.pool.running, pending: this.pool.pending },
      ...(this.lastError !== '' ? { last_error: this.lastError } : {}),
    };
  }
}
