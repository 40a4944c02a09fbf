// What each sidecar is sent: the YAML documents of the last good snapshot that it needs, as written.
// A sidecar gets the Telemetry that can apply to it, and for its own service and every service it
// calls (its subscription) that service, the HTTPRoutes governing it, and every service those routes
// name (its own service's routes too, since it may call itself: an orders canary called from orders),
// plus the names of every service in the mesh (the callers its inbound side may name, and what its 404
// for a name in the wrong namespace can point to). Equal documents give an equal version, so a change
// only reaches the sidecars whose view it alters.
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
  /** Every service key of the snapshot, sorted: shared by all views of it. */
  readonly services: readonly string[];
}

/** Views kept built, least recently used out first: subscriptions are chosen by sidecars, so the cache is bounded. */
export const MAX_CACHED_VIEWS = 4_096;

export class ConfigViews {
  private readonly docs: Document[] = [];
  private readonly cache = new Map<string, View>();
  private readonly services: readonly string[];

  /**
   * `sources` are the texts `snapshot` was parsed from, through `yaml`: every document in them is valid,
   * and already parsed there.
   */
  constructor(readonly snapshot: Snapshot, sources: readonly ConfigSource[], yaml: YamlCache) {
    for (const source of sources) this.docs.push(...splitDocuments(source, yaml.get(source)));
    this.services = Object.freeze([...snapshot.services.keys()].sort());
  }

  /**
   * `self` is `name.namespace` or undefined for a sidecar that fronts no service; `calls` are service keys
   * (sorted). Names the mesh does not have change nothing in a view, so they are no part of its key.
   */
  viewFor(self: string | undefined, calls: readonly string[]): View {
    const called = calls.filter((c) => this.snapshot.services.has(c));
    const key = `${self ?? ''}|${called.join(',')}`;
    let view = this.cache.get(key);
    if (view !== undefined) {
      this.cache.delete(key); // re-inserted: the Map's order is least recently used first
    } else {
      view = this.build(self, new Set(called));
      if (this.cache.size >= MAX_CACHED_VIEWS) this.cache.delete(this.cache.keys().next().value!);
    }
    this.cache.set(key, view);
    return view;
  }

  private build(self: string | undefined, called: ReadonlySet<string>): View {
    const { snapshot } = this;
    const wanted = new Set<string>();
    const services = new Set<string>();
    const governed = new Set(called);
    if (self !== undefined && snapshot.services.has(self)) governed.add(self);
    for (const key of governed) services.add(key);
    for (const route of snapshot.httpRoutes) {
      if (!route.parents.some((p) => governed.has(p.service))) continue;
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
    for (const name of this.services) h.update(name).update('\n');
    return { version: h.digest('hex').slice(0, 12), resources, services: this.services };
  }
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
