// What the admin /metrics serves: the mesh RED metrics (mesh-metrics.ts) plus what operators expect of
// any proxy, from prom-client: process CPU and memory, event-loop lag, GC, and gauges read at scrape time
// (in-flight requests, open downstream connections, upstream pool state). Nothing here runs per request.
import { collectDefaultMetrics, Counter, Gauge, Registry, type RegistryContentType } from 'prom-client';
import { MeshMetrics } from './mesh-metrics.js';

export interface PoolState {
  readonly service: string;
  readonly endpoint: string;
  readonly connected: number;
  readonly running: number;
  readonly pending: number;
}

/** Read when scraped. */
export interface ProxyGauges {
  inFlight(): number;
  downstreamConnections(): number;
  pools(): Iterable<PoolState>;
  accessLogDropped(): number;
  spansDropped(): number;
  spansExported(): number;
}

export const OPENMETRICS_TYPE = Registry.OPENMETRICS_CONTENT_TYPE;
export const PROMETHEUS_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

function createRegistry(type: RegistryContentType, gauges: ProxyGauges): Registry<RegistryContentType> {
  const registry = new Registry<RegistryContentType>();
  registry.setContentType(type);
  collectDefaultMetrics({ register: registry });
  new Gauge({
    name: 'meshlight_requests_in_flight', help: 'Requests being proxied now.', registers: [registry],
    collect() { this.set(gauges.inFlight()); },
  });
  new Gauge({
    name: 'meshlight_downstream_connections', help: 'Open client connections on the outbound and inbound listeners.', registers: [registry],
    collect() { this.set(gauges.downstreamConnections()); },
  });
  new Counter({
    name: 'meshlight_access_log_dropped_total', help: 'Access-log lines dropped because the destination could not keep up or failed.', registers: [registry],
    collect() { this.reset(); this.inc(gauges.accessLogDropped()); },
  });
  new Counter({
    name: 'meshlight_spans_dropped_total', help: 'Spans dropped: export queue full or the collector failed.', registers: [registry],
    collect() { this.reset(); this.inc(gauges.spansDropped()); },
  });
  new Counter({
    name: 'meshlight_spans_exported_total', help: 'Spans accepted by the OTLP collector.', registers: [registry],
    collect() { this.reset(); this.inc(gauges.spansExported()); },
  });
  new Gauge({
    name: 'meshlight_upstream_connections', help: 'Upstream pool connections by state (connected, running requests, pending requests).',
    labelNames: ['destination_service', 'endpoint', 'state'] as const, registers: [registry],
    collect() {
      this.reset();
      for (const p of gauges.pools()) {
        const labels = { destination_service: p.service, endpoint: p.endpoint };
        this.set({ ...labels, state: 'connected' }, p.connected);
        this.set({ ...labels, state: 'running' }, p.running);
        this.set({ ...labels, state: 'pending' }, p.pending);
      }
    },
  });
  return registry;
}

export interface Scrape {
  readonly contentType: string;
  /** The exposition in chunks, to be written one by one (see MeshMetrics.render). */
  readonly body: readonly string[];
}

export class Telemetry {
  readonly mesh = new MeshMetrics();
  private readonly prometheus: Registry<RegistryContentType>;
  private readonly openMetrics: Registry<RegistryContentType>;
  /** The render in progress per format: scrapes that come meanwhile share it, so N scrapers cost one render. */
  private readonly rendering = new Map<boolean, Promise<Scrape>>();

  constructor(gauges: ProxyGauges) {
    this.prometheus = createRegistry(PROMETHEUS_TYPE, gauges);
    this.openMetrics = createRegistry(OPENMETRICS_TYPE, gauges);
  }

  /** OpenMetrics (with exemplars) when the scraper asks for it, as Prometheus does; else text 0.0.4. */
  scrape(accept: string | undefined): Promise<Scrape> {
    const openMetrics = accept?.includes('application/openmetrics-text') === true;
    let pending = this.rendering.get(openMetrics);
    if (pending === undefined) {
      pending = this.render(openMetrics).finally(() => this.rendering.delete(openMetrics));
      this.rendering.set(openMetrics, pending);
    }
    return pending;
  }

  private async render(openMetrics: boolean): Promise<Scrape> {
    if (openMetrics) {
      const own = await this.openMetrics.metrics(); // ends with `# EOF`, which must stay last
      return { contentType: OPENMETRICS_TYPE, body: [own.replace(/# EOF\n$/, ''), ...(await this.mesh.render(true)), '# EOF\n'] };
    }
    return { contentType: PROMETHEUS_TYPE, body: [`${await this.prometheus.metrics()}\n`, ...(await this.mesh.render(false))] };
  }
}
