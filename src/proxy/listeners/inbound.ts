// Inbound (15006): calls into the app, forwarded to 127.0.0.1:<app-port>.
import { Exchange, type TrafficState } from '../exchange.js';
import type { DownstreamHandler } from '../http1/downstream.js';
import type { ListenerTelemetry } from '../../telemetry/access-log.js';
import { startHop } from '../../telemetry/trace-hop.js';
import type { ProxyPlan } from '../plan.js';

export function createInboundHandler(traffic: TrafficState, currentPlan: () => ProxyPlan, telemetry: ListenerTelemetry): DownstreamHandler {
  return { onRequest(conn, head, refusal): Exchange {
    const ex = new Exchange(conn, head, traffic, refusal);
    const plan = currentPlan();
    const inbound = plan.inbound!;
    ex.series = inbound.sourceSeries(ex.source);
    ex.routeName = '-';
    ex.sourceService = ex.series.source; // the caller as metrics name it: a service of the mesh, or unknown
    if (plan.accessLog) ex.log = telemetry.log;
    startHop(ex, plan.trace, telemetry.tracing, 'server');
    if (ex.invalid !== undefined) {
      ex.fail(ex.invalid);
      return ex;
    }
    ex.chain = inbound.chain;
    ex.send(inbound.cluster, 0);
    return ex;
  } };
}
