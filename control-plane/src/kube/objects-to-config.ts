// The cluster's objects as config sources, one YAML text per object, named `Kind namespace/name` so a
// problem reads `HTTPRoute shop/orders:LINE:COL: message`. MeshServices get their endpoints from the
// EndpointSlices of the Service of the same name; a Service with an HTTP port and no MeshService is a
// MeshService too (Istio meshes every Service; the port name `http`/`http-*` or appProtocol `http` says
// which port, as Istio's protocol selection does). Pure.
import { stringify } from 'yaml';
import type { ConfigSource } from '../../../src/config/load.js';

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string>; [f: string]: unknown };
  spec?: Record<string, unknown>;
  [field: string]: unknown;
}

export interface ClusterObjects {
  readonly services: readonly KubeObject[];
  readonly endpointSlices: readonly KubeObject[];
  readonly httpRoutes: readonly KubeObject[];
  readonly meshServices: readonly KubeObject[];
  readonly telemetries: readonly KubeObject[];
}

interface ServicePort { name?: string; port: number; appProtocol?: string }
interface SlicePort { name?: string; port?: number }
interface SliceEndpoint { addresses?: string[]; conditions?: { ready?: boolean | null } }

const SYSTEM_NAMESPACES = new Set(['kube-system', 'kube-public', 'kube-node-lease']);
const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

export function clusterSources(o: ClusterObjects): ConfigSource[] {
  const key = (x: KubeObject) => `${x.metadata?.namespace ?? 'default'}/${x.metadata?.name ?? ''}`;
  const services = new Map(o.services.map((s) => [key(s), s]));
  const slices = new Map<string, KubeObject[]>();
  for (const s of o.endpointSlices) {
    const owner = `${s.metadata?.namespace ?? 'default'}/${s.metadata?.labels?.[SERVICE_NAME_LABEL] ?? ''}`;
    slices.set(owner, [...(slices.get(owner) ?? []), s]);
  }
  const out: ConfigSource[] = [];
  const meshed = new Set<string>();
  for (const m of sorted(o.meshServices)) {
    meshed.add(key(m));
    const spec = { ...(m.spec ?? {}) };
    if (spec['endpoints'] === undefined) {
      const port = typeof spec['port'] === 'number' ? spec['port'] : 80;
      spec['endpoints'] = endpointsOf(slices.get(key(m)) ?? [], servicePort(services.get(key(m)), port));
    }
    out.push(source({ ...m, spec }));
  }
  for (const s of sorted(o.services)) {
    if (meshed.has(key(s)) || SYSTEM_NAMESPACES.has(s.metadata?.namespace ?? '')) continue;
    const ports = (s.spec?.['ports'] ?? []) as ServicePort[];
    const http = ports.find((p) => p.appProtocol === 'http' || p.name === 'http' || p.name?.startsWith('http-') === true);
    if (http === undefined) continue;
    out.push(source({
      apiVersion: 'meshlight.dev/v1alpha1',
      kind: 'MeshService',
      metadata: { name: s.metadata?.name, namespace: s.metadata?.namespace ?? 'default' },
      spec: { port: http.port, protocol: 'http', endpoints: endpointsOf(slices.get(key(s)) ?? [], http) },
    }, `Service ${key(s)}`));
  }
  for (const x of [...sorted(o.httpRoutes), ...sorted(o.telemetries)]) out.push(source(x));
  return out;
}

function sorted(list: readonly KubeObject[]): KubeObject[] {
  const k = (x: KubeObject) => `${x.metadata?.namespace ?? ''}/${x.metadata?.name ?? ''}`;
  return [...list].sort((a, b) => k(a).localeCompare(k(b)));
}

/** The Service port a MeshService port stands for (its name picks the EndpointSlice port). */
function servicePort(svc: KubeObject | undefined, port: number): ServicePort | undefined {
  return ((svc?.spec?.['ports'] ?? []) as ServicePort[]).find((p) => p.port === port);
}

/** Ready addresses of the slices, at the slice port of `port`'s name (the only one, when there is no Service). */
function endpointsOf(slices: readonly KubeObject[], port: ServicePort | undefined): { address: string }[] {
  const seen = new Set<string>();
  for (const slice of slices) {
    const ports = (slice['ports'] ?? []) as SlicePort[];
    const p = port === undefined ? ports[0] : ports.find((sp) => (sp.name ?? '') === (port.name ?? ''));
    if (p?.port === undefined) continue;
    for (const ep of (slice['endpoints'] ?? []) as SliceEndpoint[]) {
      // The API says: ready unset means ready.
      if (ep.conditions?.ready === false) continue;
      for (const a of ep.addresses ?? []) seen.add(a.includes(':') ? `[${a}]:${p.port}` : `${a}:${p.port}`);
    }
  }
  return [...seen].sort().map((address) => ({ address }));
}

/** One object as a config source: bookkeeping the config layer would ignore anyway is left out. */
function source(x: KubeObject, name?: string): ConfigSource {
  const { managedFields: _m, annotations: _a, ...metadata } = x.metadata ?? {};
  const { status: _s, ...rest } = x;
  const file = name ?? `${x.kind ?? '?'} ${metadata['namespace'] ?? 'default'}/${metadata['name'] ?? '?'}`;
  return { file, text: stringify({ ...rest, metadata }, { lineWidth: 0 }) };
}
