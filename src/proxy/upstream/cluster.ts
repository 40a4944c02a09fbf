// A service's endpoints and how the next one is picked; ClusterManager keeps endpoint pools alive
// across snapshots so a reload never drops warm connections.
import type { Snapshot } from '../../config/types.js';
import { EndpointState, type EndpointOptions } from './endpoint.js';

export class Cluster {
  private next = 0;

  constructor(
    readonly name: string,
    readonly endpoints: readonly EndpointState[],
  ) {}

  /** Round robin over endpoints not marked unreachable; when all are, over all of them. */
  pick(now: number): EndpointState | undefined {
    const eps = this.endpoints;
    const n = eps.length;
    if (n === 0) return undefined;
    for (let i = 0; i < n; i++) {
      const ep = eps[(this.next + i) % n]!;
      if (ep.available(now)) {
        this.next = (this.next + i + 1) % n;
        return ep;
      }
    }
    const ep = eps[this.next % n]!;
    this.next = (this.next + 1) % n;
    return ep;
  }
}

export class ClusterManager {
  private byAddress = new Map<string, EndpointState>();

  constructor(private readonly opts: EndpointOptions) {}

  /** One cluster per service of the snapshot, plus `extra` static clusters (the inbound app). */
  build(snapshot: Snapshot, extra: readonly { name: string; address: string }[]): Map<string, Cluster> {
    const used = new Map<string, EndpointState>();
    const endpoint = (address: string, labels: Readonly<Record<string, string>>): EndpointState => {
      const ep = used.get(address) ?? this.byAddress.get(address) ?? new EndpointState(address, labels, this.opts);
      used.set(address, ep);
      return ep;
    };
    const clusters = new Map<string, Cluster>();
    for (const svc of snapshot.services.values()) {
      clusters.set(svc.key, new Cluster(svc.key, svc.endpoints.map((e) => endpoint(e.address, e.labels))));
    }
    for (const c of extra) clusters.set(c.name, new Cluster(c.name, [endpoint(c.address, {})]));
    // Pools no snapshot uses any more finish their in-flight requests, then close.
    for (const [address, ep] of this.byAddress) if (!used.has(address)) void ep.pool.close();
    this.byAddress = used;
    return clusters;
  }

  /** `force`: abort what is still in flight (a connect may hang until its timeout) instead of waiting for it. */
  async close(force = false): Promise<void> {
    await Promise.all([...this.byAddress.values()].map((ep) => (force ? ep.pool.destroy() : ep.pool.close())));
    this.byAddress.clear();
  }
}
