// Steady generated traffic into the frontend's sidecar, counted by status and by the orders version
// that answered, so the canary split is visible.
import { Agent } from 'node:http';
import { call } from './apps.js';

export class TrafficCounts {
  sent = 0;
  readonly byStatus = new Map<number, number>();
  readonly byOrdersVersion = new Map<string, number>();
  /** byOrdersVersion when the last summary was made, so a summary can show the interval since. */
  private atLastSummary = new Map<string, number>();

  record(status: number, ordersVersion: string | undefined): void {
    this.byStatus.set(status, (this.byStatus.get(status) ?? 0) + 1);
    if (ordersVersion !== undefined) this.byOrdersVersion.set(ordersVersion, (this.byOrdersVersion.get(ordersVersion) ?? 0) + 1);
  }

  /** e.g. `sent 300, answered 300 | 200: 281, 502: 15, 504: 4 | orders v1 271 (90%), v2 29 (10%)` */
  total(): string {
    const answered = [...this.byStatus.values()].reduce((a, b) => a + b, 0);
    const statuses = [...this.byStatus].sort(([a], [b]) => a - b).map(([s, n]) => `${s === 0 ? 'failed' : s}: ${n}`);
    return `sent ${this.sent}, answered ${answered} | ${statuses.join(', ') || '-'} | orders ${split(this.byOrdersVersion)}`;
  }

  /** The total, then the orders split since the last summary, where a weight edit shows at once: `...; last 5 s: v1 0 (0%), v2 100 (100%)` */
  summary(intervalLabel = 'last 5 s'): string {
    const recent = new Map([...this.byOrdersVersion].map(([v, n]) => [v, n - (this.atLastSummary.get(v) ?? 0)] as const));
    this.atLastSummary = new Map(this.byOrdersVersion);
    return `${this.total()}; ${intervalLabel}: ${split(recent)}`;
  }
}

/** `v1 271 (90%), v2 29 (10%)`, or `-` when there were none. */
function split(byVersion: ReadonlyMap<string, number>): string {
  const total = [...byVersion.values()].reduce((a, b) => a + b, 0);
  if (total === 0) return '-';
  return [...byVersion].sort().map(([v, n]) => `${v} ${n} (${Math.round((100 * n) / total)}%)`).join(', ');
}

function ordersVersion(body: string): string | undefined {
  try {
    return (JSON.parse(body) as { calls?: { orders?: { version?: string } } }).calls?.orders?.version;
  } catch {
    return undefined;
  }
}

/** Sends `rps` requests a second to 127.0.0.1:port until stopped; at most 200 in flight. */
export function startTraffic(port: number, rps: number, counts: TrafficCounts): { stop(): Promise<void> } {
  const agent = new Agent({ keepAlive: true, maxSockets: 50 });
  const pending = new Set<Promise<void>>();
  const timer = setInterval(() => {
    if (pending.size >= 200) return;
    counts.sent++;
    const p = call(agent, port, 'frontend', 'GET', '/').then((r) => {
      counts.record(r.status, ordersVersion(r.body));
      pending.delete(p);
    });
    pending.add(p);
  }, 1000 / rps);
  return {
    async stop() {
      clearInterval(timer);
      // The calls under way get a moment to finish; one that still hangs must not hold the demo's exit.
      await Promise.race([Promise.all(pending), new Promise((res) => setTimeout(res, 3_000).unref())]);
      agent.destroy();
    },
  };
}
