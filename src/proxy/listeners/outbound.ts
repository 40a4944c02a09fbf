// Outbound (15001): the app's calls to other services. Routed by Host or absolute-form target,
// then by the service's HTTPRoute rules.
import { NoBackendError, NoRouteError } from '../errors.js';
import { Exchange, SOURCE_HEADER, type TrafficState } from '../exchange.js';
import type { DownstreamHandler } from '../http1/downstream.js';
import type { ListenerTelemetry } from '../../telemetry/access-log.js';
import { startHop } from '../../telemetry/trace-hop.js';
import type { ProxyPlan } from '../plan.js';
import type { ServiceRoutes } from '../routing/route-table.js';

/**
 * Asks the control plane for the service an authority names, which this sidecar has not heard of;
 * resolves when the answer is in; undefined when there is nobody to ask or nothing to ask for.
 */
export type Discover = (authority: string) => Promise<void> | undefined;

export function createOutboundHandler(traffic: TrafficState, currentPlan: () => ProxyPlan, telemetry: ListenerTelemetry, discover?: Discover): DownstreamHandler {
  return { onRequest(conn, head, refusal): Exchange {
    const ex = new Exchange(conn, head, traffic, refusal);
    const plan = currentPlan();
    ex.sourceService = plan.self;
    if (plan.accessLog) ex.log = telemetry.log;
    startHop(ex, plan.trace, telemetry.tracing, 'client');
    if (ex.invalid !== undefined) {
      ex.series = plan.routes.unknown;
      ex.fail(ex.invalid);
      return ex;
    }
    const routes = plan.routes.resolve(ex.authority);
    if (routes !== undefined) {
      route(ex, plan, routes);
      return ex;
    }
    // Like Envoy's on-demand cluster discovery: the first call to a service not yet known to this
    // sidecar waits for the control plane to send it (or to say there is none).
    const asked = discover?.(ex.authority);
    if (asked === undefined) {
      unknownService(ex, plan);
      return ex;
    }
    asked.then(() => {
      const now = currentPlan();
      const found = now.routes.resolve(ex.authority);
      if (found === undefined) unknownService(ex, now);
      else route(ex, now, found);
    }, () => unknownService(ex, currentPlan()));
    return ex;
  } };
}

function unknownService(ex: Exchange, plan: ProxyPlan): void {
  ex.series = plan.routes.unknown;
  ex.fail(new NoRouteError(plan.routes.unknownReason(ex.authority)));
}

function route(ex: Exchange, plan: ProxyPlan, routes: ServiceRoutes): void {
  const hit = routes.match(ex.method, ex.path, ex.query, ex.headers);
  if (hit === undefined) {
    ex.series = routes.unmatched;
    ex.fail(new NoRouteError(`no route of service ${routes.service.key} matches ${ex.method} ${ex.path}`));
    return;
  }
  const rule = hit.rule;
  ex.rule = rule;
  ex.routeName = rule.name;
  ex.series = rule.series;
  ex.chain = rule.chain;
  ex.matchedPrefix = hit.match.prefix;
  const local = rule.chain.runRequest(ex);
  if (local !== undefined) {
    ex.reply(local);
    return;
  }
  const cluster = rule.backends.pick();
  if (cluster === undefined) {
    ex.fail(new NoBackendError(`route ${rule.name} has no backend with a weight above 0`));
    return;
  }
  if (plan.self !== 'unknown') ex.headers.push(SOURCE_HEADER, plan.self);
  ex.send(cluster, rule.timeoutMs);
}
