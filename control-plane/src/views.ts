// What each sidecar is sent: the YAML documents of the last good snapshot that it needs, as written.
// A sidecar gets the Telemetry that can apply to it, and for its own service and every service it
// calls (its subscription) that service, the HTTPRoutes governing it, and every service those routes
// name: its own service's routes too, since it may call itself (an orders canary called from orders).
// A called name the mesh does not have comes with the services of that name in other namespaces, so
// the sidecar's 404 can name them. Equal documents give an equal version, so a change only reaches the sidecars whose view it alters.
import { createHash } from 'node:crypto';
import type { ConfigSource, ParsedYaml, YamlCache } from '../../src/config/load.js';
import type { Snapshot } from '../../src/config/types.js';
import { PUSH_NAMESPACE, type Resource } from '../proto/index.js';

/** One document of a valid snapshot, keyed `Kind namespace/name`. */
interface Document extends Resource {
  readonly id: string;
}

export interface View {
  readonly version: string;
  readonly resources: readonly Resource[];
}

export class ConfigViews {
  private readonly docs: Document[] = [];
  private readonly cache = new Map<string, View>();

  /**
   * `sources` are the texts `snapshot` was parsed from, through `yaml`: every document in them is valid,
   * and already parsed there.
   */
  constructor(readonly snapshot: Snapshot, sources: readonly ConfigSource[], yaml: YamlCache) {
    for (const source of sources) this.docs.push(...splitDocuments(source, yaml.get(source)));
  }

  /** `self` is `name.namespace` or undefined for a sidecar that fronts no service; `calls` are service keys. */
  viewFor(self: string | undefined, calls: readonly string[]): View {
    const key = `${self ?? ''}|${calls.join(',')}`;
    let view = this.cache.get(key);
    if (view === undefined) {
      view = this.build(self, calls);
      this.cache.set(key, view);
    }
    return view;
  }

  private build(self: string | undefined, calls: readonly string[]): View {
    const { snapshot } = this;
    const wanted = new Set<string>();
    const services = new Set<string>();
    const called = new Set(calls.filter((c) => snapshot.services.has(c)));
    if (self !== undefined && snapshot.services.has(self)) called.add(self);
    for (const key of called) services.add(key);
    for (const missing of calls.filter((c) => !called.has(c))) for (const key of sameNameElsewhere(snapshot, missing)) services.add(key);
    for (const route of snapshot.httpRoutes) {
      if (!route.parents.some((p) => called.has(p.service))) continue;
      wanted.add(`HTTPRoute ${route.namespace}/${route.name}`);
      // The sidecar validates what it gets: every service a route names must come with it.
      for (const p of route.parents) services.add(p.service);
      for (const rule of route.rules) for (const b of rule.backendRefs) services.add(b.service);
    }
    for (const key of services) {
      const svc = snapshot.services.get(key)!;
      wanted.add(`MeshService ${svc.namespace}/${svc.name}`);
    }
    for (const t of snapshot.telemetry) {
      if (t.targetService === undefined || t.targetService === self) wanted.add(`Telemetry ${t.namespace}/${t.name}`);
    }
    const resources = this.docs.filter((d) => wanted.has(d.id)).map(({ file, line, yaml }) => ({ file, line, yaml }));
    const h = createHash('sha256');
    for (const r of resources) h.update(r.file).update('\0').update(r.yaml).update('\0');
    return { version: h.digest('hex').slice(0, 12), resources };
  }
}

/** `orders.shop`, ... for `orders.default` when the mesh has no such service. */
export function sameNameElsewhere(snapshot: Snapshot, key: string): string[] {
  const name = key.slice(0, key.indexOf('.'));
  return [...snapshot.services.values()].filter((s) => s.name === name).map((s) => s.key);
}

function splitDocuments(source: ConfigSource, { lines, docs }: ParsedYaml): Document[] {
  const out: Document[] = [];
  for (const doc of docs) {
    if (doc.contents === null) continue;
    const js = doc.toJS() as { kind: string; metadata: { name: string; namespace?: string } };
    const [start, , end] = doc.range;
    out.push({
      id: `${js.kind} ${js.metadata.namespace ?? PUSH_NAMESPACE}/${js.metadata.name}`,
      file: source.file,
      line: lines.linePos(start).line,
      yaml: source.text.slice(start, end),
    });
  }
  return out;
}
