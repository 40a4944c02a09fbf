// Weighted backendRefs: a traffic split picks a cluster per request, at random in proportion to weight.
import type { Cluster } from '../upstream/cluster.js';

export class WeightedBackends {
  private readonly cumulative: readonly number[];
  readonly total: number;

  constructor(readonly clusters: readonly Cluster[], weights: readonly number[]) {
    let sum = 0;
    this.cumulative = weights.map((w) => (sum += w));
    this.total = sum;
  }

  /** Undefined when there is no backend, or every weight is 0. */
  pick(): Cluster | undefined {
    const cs = this.clusters;
    if (this.total === 0) return undefined;
    if (cs.length === 1) return cs[0];
    const r = Math.random() * this.total;
    const cum = this.cumulative;
    for (let i = 0; i < cs.length; i++) if (r < cum[i]!) return cs[i];
    return cs[cs.length - 1];
  }
}
