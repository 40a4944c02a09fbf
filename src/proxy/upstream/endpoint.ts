// One upstream host: its keep-alive pool and what /clusters shows about it.
import { Pool } from 'undici';

/** After a failed connect, skip the endpoint this long unless nothing else is left (Envoy's panic mode). */
const UNREACHABLE_MS = 5_000;

export interface PoolOptions {
  readonly connectTimeoutMs: number;
}

export class EndpointState {
  readonly pool: Pool;
  active = 0;
  requests = 0;
  errors = 0;
  connectFailures = 0;
  unreachableUntil = 0;
  lastError = '';

  constructor(
    readonly address: string,
    readonly labels: Readonly<Record<string, string>>,
    opts: PoolOptions,
  ) {
    this.pool = new Pool(`http://${address}`, {
      connect: { timeout: opts.connectTimeoutMs },
      // Upstream servers (node's default is 5 s) must never close a socket we are about to reuse.
      keepAliveTimeout: 4_000,
      // Response heads up to 60 KiB, as Envoy and our own listeners allow (undici's default is 16 KiB).
      maxHeaderSize: 60 * 1024,
    });
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
      pool: { connected: this.pool.stats.connected, running: this.pool.stats.running, pending: this.pool.stats.pending },
      ...(this.lastError !== '' ? { last_error: this.lastError } : {}),
    };
  }
}
