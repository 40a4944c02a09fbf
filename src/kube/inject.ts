// Sidecar injection into one pod template: who gets it (Istio's rules), and what it adds. Pure: the
// manifest command and the admission webhook both call this.
import { ANNOTATIONS, INIT_CONTAINER, INJECT_KEY, NAMESPACE_LABEL, PORTS, PROXY_CONTAINER, STATUS_ANNOTATION } from './names.js';
import { PROBE_KINDS, type Container, type PodTemplate, type Probe, type ProbeKind } from './pod.js';
import { initContainer, proxyContainer, type PodFacts, type SidecarSettings } from './sidecar-template.js';

export type Decision = { readonly inject: true } | { readonly inject: false; readonly reason: string };

/**
 * Istio's order: a namespace labelled `disabled` wins, then the pod's own `"false"` / `"true"` (label, or
 * annotation), then a namespace labelled `enabled`. `namespaceLabels` undefined: the caller asked for this
 * pod explicitly (`meshlight inject -f`), so only the pod's opt-out counts.
 */
export function decide(t: PodTemplate, namespaceLabels: Readonly<Record<string, string>> | undefined): Decision {
  if (t.spec.hostNetwork === true) return { inject: false, reason: 'hostNetwork pod: its traffic is the node\'s' };
  if (isInjected(t)) return { inject: false, reason: 'already injected' };
  const own = t.metadata?.labels?.[INJECT_KEY] ?? t.metadata?.annotations?.[INJECT_KEY];
  if (namespaceLabels?.[NAMESPACE_LABEL] === 'disabled') return { inject: false, reason: `namespace label ${NAMESPACE_LABEL}=disabled` };
  if (own === 'false') return { inject: false, reason: `pod ${INJECT_KEY}: "false"` };
  if (own === 'true' || namespaceLabels === undefined) return { inject: true };
  if (namespaceLabels[NAMESPACE_LABEL] === 'enabled') return { inject: true };
  return { inject: false, reason: `neither the namespace (${NAMESPACE_LABEL}=enabled) nor the pod (${INJECT_KEY}: "true") asks for it` };
}

export function isInjected(t: PodTemplate): boolean {
  return [...(t.spec.initContainers ?? []), ...t.spec.containers].some((c) => c.name === PROXY_CONTAINER);
}

/** The template with the sidecar added (a copy; `t` is not changed). `workload`: the owner's name, a fallback service name. */
export function injectTemplate(t: PodTemplate, settings: SidecarSettings, workload?: string): PodTemplate {
  const copy = structuredClone(t);
  const meta = (copy.metadata ??= {});
  const annotations = (meta.annotations ??= {});
  const labels = meta.labels ?? {};
  const appPort = appPortOf(copy.spec.containers, annotations);
  const probes: Record<string, object> = {};
  if (annotations[ANNOTATIONS.rewriteProbes] !== 'false') {
    for (const c of copy.spec.containers) rewriteProbes(c, probes);
  }
  const facts: PodFacts = {
    service: serviceOf(annotations, labels, workload ?? workloadOf(meta.generateName) ?? meta.name),
    appPort,
    annotations,
    probes,
  };
  copy.spec.initContainers = [initContainer(settings, facts), proxyContainer(settings, facts), ...(copy.spec.initContainers ?? [])];
  // Scraped through the stats port; an app that declares its own scrape annotations keeps them.
  if (annotations['prometheus.io/scrape'] === undefined) {
    Object.assign(annotations, { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(PORTS.stats), 'prometheus.io/path': '/metrics' });
  }
  const first = copy.spec.containers[0];
  if (first !== undefined) annotations['kubectl.kubernetes.io/default-container'] ??= first.name;
  annotations[STATUS_ANNOTATION] = JSON.stringify({ initContainers: [INIT_CONTAINER, PROXY_CONTAINER], service: facts.service ?? null, appPort: appPort ?? null });
  return copy;
}

const DNS_LABEL = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;

function serviceOf(annotations: Record<string, string>, labels: Record<string, string>, fallback: string | undefined): string | undefined {
  const name = annotations[ANNOTATIONS.service] ?? labels['app.kubernetes.io/name'] ?? labels['app'] ?? fallback;
  return name !== undefined && DNS_LABEL.test(name) ? name : undefined;
}

/** `orders-7c9f8d6b5-` (a Deployment's pod) -> `orders`; `web-` (a StatefulSet's or a Job's) -> `web`. */
function workloadOf(generateName: string | undefined): string | undefined {
  if (generateName === undefined) return undefined;
  return generateName.replace(/-$/, '').replace(/-[a-z0-9]{8,10}$/, '') || undefined;
}

function appPortOf(containers: readonly Container[], annotations: Record<string, string>): number | undefined {
  const given = annotations[ANNOTATIONS.appPort];
  if (given !== undefined && /^\d{1,5}$/.test(given)) return Number(given);
  for (const c of containers) {
    const port = c.ports?.find((p) => (p.protocol ?? 'TCP') === 'TCP');
    if (port !== undefined) return port.containerPort;
  }
  return undefined;
}

const PROBE_PATH: Record<ProbeKind, string> = { livenessProbe: 'livez', readinessProbe: 'readyz', startupProbe: 'startupz' };

/**
 * Points the container's HTTP and TCP probes at the sidecar's stats port, which asks the app itself (as
 * Istio's pilot-agent does): the kubelet's call then needs no path through the inbound capture.
 */
function rewriteProbes(c: Container, probes: Record<string, object>): void {
  for (const kind of PROBE_KINDS) {
    const probe = c[kind];
    if (probe === undefined || (probe.httpGet === undefined && probe.tcpSocket === undefined)) continue;
    const path = `/app-health/${c.name}/${PROBE_PATH[kind]}`;
    probes[path] = appProbe(c, probe);
    const { httpGet: _h, tcpSocket: _t, ...rest } = probe;
    c[kind] = { ...rest, httpGet: { path, port: PORTS.stats, scheme: 'HTTP' } };
  }
}

function appProbe(c: Container, p: Probe): object {
  const timeoutSeconds = p.timeoutSeconds ?? 1;
  if (p.httpGet !== undefined) {
    const { path, port, scheme, httpHeaders } = p.httpGet;
    return { httpGet: { path: path ?? '/', port: portNumber(c, port), scheme: scheme ?? 'HTTP', ...(httpHeaders ? { httpHeaders } : {}) }, timeoutSeconds };
  }
  return { tcpSocket: { port: portNumber(c, p.tcpSocket!.port) }, timeoutSeconds };
}

/** A probe may name its port; the sidecar needs the number. */
function portNumber(c: Container, port: number | string): number {
  if (typeof port === 'number') return port;
  if (/^\d+$/.test(port)) return Number(port);
  const named = c.ports?.find((p) => p.name === port);
  if (named === undefined) throw new InjectError(`container ${c.name}: a probe names port '${port}', which the container does not declare`);
  return named.containerPort;
}

export class InjectError extends Error {
  override readonly name = 'InjectError';
}
