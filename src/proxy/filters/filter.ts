// The filter interface: each concern is built once per snapshot from config (Envoy's two lifetimes)
// and sees a request on the way in and the response headers on the way out.
import type { Exchange } from '../exchange.js';
import type { HeaderList } from '../headers.js';
import type { LocalReply } from '../respond.js';

export interface HttpFilter {
  readonly name: string;
  /** Before the upstream call: may edit the exchange's path, authority and headers, or answer instead. */
  onRequest?(ex: Exchange): LocalReply | undefined;
  /** On the upstream's response headers, before they go downstream. */
  onResponseHeaders?(ex: Exchange, headers: HeaderList): void;
}

/** The filters of one route, split by phase once so the per-request loops touch only what acts. */
export class FilterChain {
  static readonly EMPTY = new FilterChain([]);
  readonly request: readonly HttpFilter[];
  readonly response: readonly HttpFilter[];

  constructor(readonly filters: readonly HttpFilter[]) {
    this.request = filters.filter((f) => f.onRequest !== undefined);
    this.response = filters.filter((f) => f.onResponseHeaders !== undefined);
  }

  /** Runs the request phase; the first local reply stops the chain. */
  runRequest(ex: Exchange): LocalReply | undefined {
    const fs = this.request;
    for (let i = 0; i < fs.length; i++) {
      const reply = fs[i]!.onRequest!(ex);
      if (reply !== undefined) return reply;
    }
    return undefined;
  }

  runResponse(ex: Exchange, headers: HeaderList): void {
    const fs = this.response;
    for (let i = 0; i < fs.length; i++) fs[i]!.onResponseHeaders!(ex, headers);
  }
}
