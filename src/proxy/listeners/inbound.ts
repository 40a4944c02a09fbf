// Inbound (15006): calls into the app, forwarded to 127.0.0.1:<app-port>.
import type { IncomingMessage } from 'node:http';
import { Exchange, type ProxyResponse, type TrafficState } from '../exchange.js';
import type { ListenerTelemetry } from '../../telemetry/access-log.js';
import { startHop } from '../../telemetry/trace-hop.js';
import type { ProxyPlan } from '../plan.js';

export function createInboundHandler(traffic: TrafficState, currentPlan: () => ProxyPlan, telemetry: ListenerTelemetry) {
  return function onInboundRequest(req: IncomingMessage, res: ProxyResponse): void {
    const ex = new Exchange(req, res, traffic);
    const plan = currentPlan();
    const inbound = plan.inbound!;
    ex.series = inbound.sourceSeries(ex.source);
    ex.sourceService = ex.series.source; // the caller as metrics name it: a service of the mesh, or unknown
    if (plan.accessLog) ex.log = telemetry.log;
    startHop(ex, plan.trace, telemetry.tracing, 'server');
    if (ex.invalid !== undefined) {
      ex.fail(ex.invalid);
      return;
    }
    ex.chain = inbound.chain;
    ex.send(inbound.cluster, 0);
  };
}
