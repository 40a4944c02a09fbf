// Config from the cluster: @kubernetes/client-node informers (list, then watch from the list's
// resourceVersion, bookmarks, a re-list after 410 Gone, a re-watch when a watch drops) on Services,
// EndpointSlices, HTTPRoutes and the meshlight.dev kinds. An informer that fails (API server away,
// list refused) is restarted after 250 ms doubling to 5 s with full jitter, as sidecars reconnect.
import * as k8s from '@kubernetes/client-node';
import type { ConfigSource } from '../../../src/config/load.js';
import type { ConfigIssue } from '../../../src/config/types.js';
import type { Logger } from '../../../src/diagnostics.js';
import type { ConfigFeed } from '../config-store.js';
import { clusterSources, type ClusterObjects, type KubeObject } from './objects-to-config.js';

export interface ClusterFeedOptions {
  /** A kubeconfig file; undefined: in-cluster credentials, else $KUBECONFIG or ~/.kube/config. */
  readonly kubeconfig: string | undefined;
  readonly log: Logger;
}

interface Watched {
  readonly name: keyof ClusterObjects;
  readonly apiVersion: string;
  readonly kind: string;
  readonly path: string;
  readonly list: () => Promise<k8s.KubernetesListObject<k8s.KubernetesObject>>;
}

const DEBOUNCE_MS = 100;
const BACKOFF = { firstMs: 250, maxMs: 5_000 };

export class ClusterFeed implements ConfigFeed {
  private readonly informers = new Map<keyof ClusterObjects, k8s.Informer<k8s.KubernetesObject> & k8s.ObjectCache<k8s.KubernetesObject>>();
  private readonly watched: Watched[];
  private readonly synced = new Set<string>();
  private onChange: (() => void) | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly retries = new Set<NodeJS.Timeout>();
  /** Failures in a row per kind, for the backoff; a successful list resets it. */
  private readonly attempts = new Map<string, number>();
  private whenSynced: (() => void) | undefined;
  readonly describe: string;

  constructor(private readonly opts: ClusterFeedOptions) {
    const kc = new k8s.KubeConfig();
    if (opts.kubeconfig !== undefined) kc.loadFromFile(opts.kubeconfig);
    else kc.loadFromDefault();
    const server = kc.getCurrentCluster()?.server;
    if (server === undefined) throw new Error(`no cluster in ${opts.kubeconfig ?? 'the default kubeconfig'}`);
    this.describe = `the Kubernetes API at ${server}`;
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const discovery = kc.makeApiClient(k8s.DiscoveryV1Api);
    const custom = kc.makeApiClient(k8s.CustomObjectsApi);
    const crd = (group: string, version: string, plural: string) => () =>
      custom.listClusterCustomObject({ group, version, plural }) as Promise<k8s.KubernetesListObject<k8s.KubernetesObject>>;
    this.watched = [
      { name: 'services', apiVersion: 'v1', kind: 'Service', path: '/api/v1/services', list: () => core.listServiceForAllNamespaces() },
      { name: 'endpointSlices', apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', path: '/apis/discovery.k8s.io/v1/endpointslices', list: () => discovery.listEndpointSliceForAllNamespaces() },
      { name: 'httpRoutes', apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', path: '/apis/gateway.networking.k8s.io/v1/httproutes', list: crd('gateway.networking.k8s.io', 'v1', 'httproutes') },
      { name: 'meshServices', apiVersion: 'meshlight.dev/v1alpha1', kind: 'MeshService', path: '/apis/meshlight.dev/v1alpha1/meshservices', list: crd('meshlight.dev', 'v1alpha1', 'meshservices') },
      { name: 'telemetries', apiVersion: 'meshlight.dev/v1alpha1', kind: 'Telemetry', path: '/apis/meshlight.dev/v1alpha1/telemetries', list: crd('meshlight.dev', 'v1alpha1', 'telemetries') },
    ];
    for (const w of this.watched) {
      // The list function tells when a (re-)list succeeded; the informer fills its cache right after.
      const informer = k8s.makeInformer(kc, w.path, async () => {
        const list = await w.list();
        setImmediate(() => this.listed(w));
        return list;
      });
      informer.on('change', () => this.changed());
      informer.on('error', (err: unknown) => this.failed(w, informer, err));
      this.informers.set(w.name, informer);
    }
  }

  /** Resolves once every kind has been listed (retrying while the API server cannot be reached). */
  start(onChange: () => void): Promise<void> {
    this.onChange = onChange;
    const synced = new Promise<void>((resolve) => (this.whenSynced = resolve));
    for (const i of this.informers.values()) void i.start();
    return synced;
  }

  private listed(w: Watched): void {
    this.attempts.set(w.kind, 0);
    this.synced.add(w.kind);
    if (this.synced.size === this.watched.length) this.whenSynced?.();
    this.changed();
  }

  /** An informer stops at a failed list or watch: start it again after a pause (it re-watches, or re-lists after 410). */
  private failed(w: Watched, informer: k8s.Informer<k8s.KubernetesObject>, err: unknown): void {
    if (this.closed) return;
    const attempt = this.attempts.get(w.kind) ?? 0;
    this.attempts.set(w.kind, attempt + 1);
    const delay = backoff(attempt);
    this.opts.log.warn(`list/watch of ${w.kind} objects failed: ${describeError(err)}; retrying in ${Math.round(delay)} ms`);
    const t = setTimeout(() => {
      this.retries.delete(t);
      if (!this.closed) void informer.start();
    }, delay);
    this.retries.add(t);
  }

  private changed(): void {
    if (this.synced.size < this.watched.length) return;
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => this.onChange?.(), DEBOUNCE_MS);
  }

  async read(): Promise<{ ok: true; sources: readonly ConfigSource[] } | { ok: false; errors: readonly ConfigIssue[] }> {
    const objects = Object.fromEntries(this.watched.map((w) => [
      w.name,
      // List items carry no kind; watch events do. Stamp them all alike.
      this.informers.get(w.name)!.list().map((o) => ({ ...(o as KubeObject), apiVersion: w.apiVersion, kind: w.kind })),
    ])) as unknown as ClusterObjects;
    return { ok: true, sources: clusterSources(objects) };
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.debounce);
    for (const t of this.retries) clearTimeout(t);
    for (const i of this.informers.values()) void i.stop();
  }
}

/** 250 ms doubling to 5 s, full jitter. */
function backoff(attempt: number): number {
  return Math.random() * Math.min(BACKOFF.maxMs, BACKOFF.firstMs * 2 ** attempt);
}

function describeError(err: unknown): string {
  if (err instanceof Error) return err.message.split('\n')[0]!;
  return String(err);
}
