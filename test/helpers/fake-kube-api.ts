// A local Kubernetes API server for the list+watch protocol, replaying what a real one does: lists with
// a resourceVersion, watches as chunked JSON lines from a resourceVersion on (ADDED, MODIFIED, DELETED,
// BOOKMARK), 410 Expired for a version older than its compacted history, watches that drop, and
// answers refused while it is away. No cluster runs here; the shapes are the API's own.
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

type Obj = { apiVersion?: string; kind?: string; metadata: { name: string; namespace?: string; resourceVersion?: string; [f: string]: unknown }; [f: string]: unknown };
type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

interface Resource {
  readonly apiVersion: string;
  readonly kind: string;
  /** Custom resources carry kind and apiVersion in list items; built-in kinds do not. */
  readonly custom: boolean;
  readonly objects: Map<string, Obj>;
  readonly history: { rv: number; type: EventType; object: Obj }[];
}

export class FakeKubeApi {
  private rv = 1000;
  private compactedBelow = 0;
  private away = false;
  private readonly resources = new Map<string, Resource>();
  private readonly watches = new Set<{ path: string; res: ServerResponse }>();
  /** Every watch request: its path and the resourceVersion it asked to start from. */
  readonly watchRequests: { path: string; resourceVersion: string }[] = [];
  readonly lists = new Map<string, number>();
  readonly expired: string[] = [];
  private readonly server = createServer((req, res) => this.handle(req.url ?? '/', res));
  port = 0;

  /** `path` as the API serves it, e.g. /api/v1/services or /apis/meshlight.dev/v1alpha1/meshservices. */
  serve(path: string, apiVersion: string, kind: string, custom: boolean): void {
    this.resources.set(path, { apiVersion, kind, custom, objects: new Map(), history: [] });
  }

  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
  }

  kubeconfig(): string {
    return `apiVersion: v1
kind: Config
clusters: [{name: replay, cluster: {server: "http://127.0.0.1:${this.port}", insecure-skip-tls-verify: true}}]
users: [{name: replay, user: {token: not-checked}}]
contexts: [{name: replay, context: {cluster: replay, user: replay}}]
current-context: replay
`;
  }

  /** An object created, changed or deleted: a new resourceVersion, sent to the open watches. */
  apply(path: string, type: EventType, object: Obj): void {
    const r = this.resources.get(path)!;
    const rv = ++this.rv;
    const stored: Obj = { ...object, apiVersion: r.apiVersion, kind: r.kind, metadata: { uid: `uid-${object.metadata.name}`, creationTimestamp: '2026-01-01T00:00:00Z', ...object.metadata, resourceVersion: String(rv) } };
    const key = `${object.metadata.namespace ?? ''}/${object.metadata.name}`;
    if (type === 'DELETED') r.objects.delete(key);
    else r.objects.set(key, stored);
    r.history.push({ rv, type, object: stored });
    for (const w of this.watches) if (w.path === path) w.res.write(`${JSON.stringify({ type, object: stored })}\n`);
  }

  /** A BOOKMARK on every open watch: the current resourceVersion, no object change. */
  bookmark(): number {
    const rv = ++this.rv;
    for (const w of this.watches) {
      const r = this.resources.get(w.path)!;
      w.res.write(`${JSON.stringify({ type: 'BOOKMARK', object: { kind: r.kind, apiVersion: r.apiVersion, metadata: { resourceVersion: String(rv) } } })}\n`);
    }
    return rv;
  }

  /** Ends every open watch, as an API server restart or a load balancer timeout does. */
  dropWatches(): void {
    for (const w of this.watches) w.res.destroy();
    this.watches.clear();
  }

  /** Forgets history: a watch from a version older than the current one gets 410 Expired and must list again. */
  compact(): void {
    this.compactedBelow = this.rv;
  }

  /** While away, every request is refused with 503 and the watches are dropped. */
  setAway(away: boolean): void {
    this.away = away;
    if (away) this.dropWatches();
  }

  async close(): Promise<void> {
    this.dropWatches();
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }

  private handle(url: string, res: ServerResponse): void {
    const u = new URL(url, 'http://api');
    const r = this.resources.get(u.pathname);
    if (this.away) return status(res, 503, 'ServiceUnavailable', 'the API server is away');
    if (r === undefined) return status(res, 404, 'NotFound', `the server could not find the requested resource (${u.pathname})`);
    if (u.searchParams.get('watch') !== 'true') {
      this.lists.set(u.pathname, (this.lists.get(u.pathname) ?? 0) + 1);
      const items = [...r.objects.values()].map((o) => (r.custom ? o : (({ kind: _k, apiVersion: _a, ...rest }) => rest)(o)));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: `${r.kind}List`, apiVersion: r.apiVersion, metadata: { resourceVersion: String(this.rv) }, items }));
      return;
    }
    const from = Number(u.searchParams.get('resourceVersion') ?? '0');
    this.watchRequests.push({ path: u.pathname, resourceVersion: String(from) });
    if (from < this.compactedBelow) {
      // As the API server's watch cache answers a version it no longer has.
      this.expired.push(u.pathname);
      return status(res, 410, 'Expired', `too old resource version: ${from} (${this.compactedBelow})`);
    }
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    for (const e of r.history) if (e.rv > from) res.write(`${JSON.stringify({ type: e.type, object: e.object })}\n`);
    const w = { path: u.pathname, res };
    this.watches.add(w);
    res.on('close', () => this.watches.delete(w));
  }
}

function status(res: ServerResponse, code: number, reason: string, message: string): void {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code }));
}
