// YAML text -> one frozen Snapshot, or every problem as FILE:LINE:COL. `parseConfig` is pure; it is
// what validate, the sidecar's reload and (later) control-plane pushes all go through.
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { LineCounter, parseAllDocuments, type Document } from 'yaml';
import { parseHttpRoute } from './kinds/http-route.js';
import { checkDnsLabel, type DocMeta, type ResolveContext } from './kinds/common.js';
import { parseMeshService } from './kinds/mesh-service.js';
import { parseTelemetry } from './kinds/telemetry.js';
import { Field, IssueList } from './reader.js';
import type { ConfigIssue, HttpRoute, LoadResult, MeshService, TelemetryConfig } from './types.js';

export interface ConfigSource {
  readonly file: string;
  readonly text: string;
}

export interface LoadOptions {
  /** The namespace of documents that name none (the proxy's `--namespace`). */
  readonly defaultNamespace: string;
  /** Parsed YAML of files read before, reused while their text is the same. */
  readonly cache?: YamlCache;
}

/** One file's YAML documents, parsed (not yet checked) and positioned. */
export interface ParsedYaml {
  readonly text: string;
  readonly lines: LineCounter;
  readonly docs: readonly Document.Parsed[];
}

function parseYaml(source: ConfigSource): ParsedYaml {
  const lines = new LineCounter();
  return { text: source.text, lines, docs: [...parseAllDocuments(source.text, { lineCounter: lines, prettyErrors: false })] };
}

/**
 * Parsed YAML per file, reused while the file's text is unchanged: a watched directory is read whole on
 * every change, and parsing is most of the cost of a reload, so one edited file among many costs one
 * file's parse. Documents are only read once parsed, never changed, so sharing them is safe.
 */
export class YamlCache {
  private files = new Map<string, ParsedYaml>();

  get(source: ConfigSource): ParsedYaml {
    const hit = this.files.get(source.file);
    if (hit !== undefined && hit.text === source.text) return hit;
    const parsed = parseYaml(source);
    this.files.set(source.file, parsed);
    return parsed;
  }

  /** Forgets the files that are not among `sources` (deleted ones). */
  keepOnly(sources: readonly ConfigSource[]): void {
    const kept = new Map<string, ParsedYaml>();
    for (const s of sources) {
      const hit = this.files.get(s.file);
      if (hit !== undefined) kept.set(s.file, hit);
    }
    this.files = kept;
  }
}

const MESH_API = 'meshlight.dev/v1alpha1';
const GATEWAY_APIS = ['gateway.networking.k8s.io/v1', 'gateway.networking.k8s.io/v1beta1'];
const KINDS: Readonly<Record<string, readonly string[]>> = {
  MeshService: [MESH_API],
  HTTPRoute: GATEWAY_APIS,
  Telemetry: [MESH_API],
};
const LATER_KINDS = new Set(['TrafficPolicy', 'AuthorizationPolicy', 'GRPCRoute']);
// Kubernetes bookkeeping that `kubectl get -o yaml` leaves in metadata; harmless, so not reported.
const K8S_METADATA = ['uid', 'resourceVersion', 'generation', 'creationTimestamp', 'managedFields', 'ownerReferences',
  'finalizers', 'generateName', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'selfLink'];
const SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

export function formatIssue(issue: ConfigIssue): string {
  return `${issue.file}:${issue.line}:${issue.col}: ${issue.message}`;
}

/** A config given at start is invalid: nothing was started. */
export class ConfigRejectedError extends Error {
  constructor(readonly issues: readonly ConfigIssue[]) {
    super(`config rejected:\n${issues.map(formatIssue).join('\n')}`);
  }
}

interface Doc {
  readonly kind: string;
  readonly meta: DocMeta;
  readonly spec: Field;
  readonly nameField: Field;
}

function readDocuments(source: ConfigSource, issues: IssueList, opts: LoadOptions): Doc[] {
  const binary = /[\u0000\uFFFD]/.exec(source.text);
  if (binary !== null) {
    issues.add(source.file, 1, 1, `not a text file (byte ${binary.index} is ${binary[0] === '\u0000' ? 'NUL' : 'not UTF-8'}): config is YAML or JSON text`);
    return [];
  }
  const { lines, docs } = opts.cache?.get(source) ?? parseYaml(source);
  const src = { file: source.file, lines, issues };
  const out: Doc[] = [];
  if (docs.every((d) => d.contents === null && d.errors.length === 0)) issues.add(source.file, 1, 1, 'no documents in this file (it is empty or only comments)');
  for (const doc of docs) {
    if (doc.errors.length > 0) {
      for (const e of doc.errors) {
        const { line, col } = lines.linePos(e.pos[0]);
        issues.add(source.file, line, col, `YAML syntax: ${e.message.split('\n')[0]}`);
      }
      continue;
    }
    if (doc.contents === null) continue; // an empty document, e.g. a trailing `---`
    const root = new Field(src, doc.contents, '', doc.range[0]);
    const f = root.fields(['apiVersion', 'kind', 'metadata', 'spec'], ['status']);
    if (f === undefined) continue;
    const kindField = Field.of(f, 'kind', root);
    const kind = kindField.requiredString();
    const apiField = Field.of(f, 'apiVersion', root);
    const apiVersion = apiField.requiredString();
    const metaField = Field.of(f, 'metadata', root);
    const m = metaField.fields(['name', 'namespace', 'labels', 'annotations'], K8S_METADATA);
    Field.of(m, 'labels', metaField).stringMap();
    Field.of(m, 'annotations', metaField).stringMap();
    const nameField = Field.of(m, 'name', metaField);
    const name = nameField.requiredString();
    const nsField = Field.of(m, 'namespace', metaField);
    const namespace = checkDnsLabel(nsField, nsField.string()) ?? (nsField.present ? undefined : opts.defaultNamespace);
    const spec = Field.of(f, 'spec', root);
    if (kind === undefined) continue;
    if (LATER_KINDS.has(kind)) {
      kindField.error(`kind ${kind} is not supported by this version yet`);
      continue;
    }
    const apis = KINDS[kind];
    if (apis === undefined) {
      kindField.error(`unknown kind "${kind}" (expected one of: ${Object.keys(KINDS).join(', ')})`);
      continue;
    }
    if (apiVersion !== undefined && !apis.includes(apiVersion)) {
      apiField.error(`apiVersion: ${kind} is ${apis.join(' or ')}, not "${apiVersion}"`);
      continue;
    }
    if (!spec.present) spec.error(`spec: required`);
    if (name === undefined || namespace === undefined || apiVersion === undefined || !spec.present) continue;
    // A bad name is reported but the spec is still checked, so one run shows every problem.
    if (kind === 'MeshService') checkDnsLabel(nameField, name);
    else if (!SUBDOMAIN.test(name)) nameField.error(`metadata.name: "${name}" is not a valid name (lower-case letters, digits, '-' and '.')`);
    out.push({ kind, meta: { name, namespace, root }, spec, nameField });
  }
  return out;
}

function versionOf(sources: readonly ConfigSource[]): string {
  const h = createHash('sha256');
  for (const s of sources) h.update(s.text).update('\0');
  return h.digest('hex').slice(0, 12);
}

export function parseConfig(sources: readonly ConfigSource[], opts: LoadOptions): LoadResult {
  opts.cache?.keepOnly(sources);
  const issues = new IssueList();
  const docs = sources.flatMap((s) => readDocuments(s, issues, opts));
  const services = new Map<string, MeshService>();
  const routes: HttpRoute[] = [];
  const telemetry: TelemetryConfig[] = [];
  const seen = new Map<string, string>();
  const unique = (d: Doc): boolean => {
    const id = `${d.kind} ${d.meta.namespace}/${d.meta.name}`;
    const first = seen.get(id);
    if (first !== undefined) d.nameField.error(`${id} is already defined at ${first}`);
    else seen.set(id, d.meta.root.where);
    return first === undefined;
  };
  // Services first: routes and telemetry refer to them, from any file and in any order.
  for (const d of docs) {
    if (d.kind !== 'MeshService' || !unique(d)) continue;
    const svc = parseMeshService(d.meta, d.spec);
    if (svc !== undefined) services.set(svc.key, svc);
  }
  const ctx: ResolveContext = { services };
  const telemetryTargets = new Map<string, string>();
  for (const d of docs) {
    if (d.kind === 'MeshService' || !unique(d)) continue;
    if (d.kind === 'HTTPRoute') {
      const route = parseHttpRoute(d.meta, d.spec, ctx);
      if (route !== undefined) routes.push(route);
    } else {
      const t = parseTelemetry(d.meta, d.spec, ctx);
      if (t === undefined) continue;
      const scope = t.targetService ?? `mesh-wide (namespace ${t.namespace})`;
      const other = telemetryTargets.get(scope);
      if (other !== undefined) d.nameField.error(`Telemetry for ${scope} is already defined at ${other}`);
      telemetryTargets.set(scope, d.meta.root.where);
      telemetry.push(t);
    }
  }
  if (issues.items.length > 0) {
    const order = new Map(sources.map((s, i) => [s.file, i]));
    const errors = [...issues.items].sort((a, b) => order.get(a.file)! - order.get(b.file)! || a.line - b.line || a.col - b.col);
    return { ok: false, errors };
  }
  routes.sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
  return {
    ok: true,
    snapshot: Object.freeze({
      version: versionOf(sources),
      services,
      httpRoutes: Object.freeze(routes),
      telemetry: Object.freeze(telemetry),
      // A pushed config comes one document per source: name each file once.
      sources: Object.freeze([...new Set(sources.map((s) => s.file))]),
    }),
  };
}

/** JSON is YAML, so `kubectl get -o json` output is read as well. */
const CONFIG_FILE = /\.(ya?ml|json)$/;

async function collectFiles(path: string, out: string[]): Promise<void> {
  const entries = await readdir(path, { withFileTypes: true });
  for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    // Dot entries are skipped: Kubernetes ConfigMap mounts keep a hidden `..data` copy of every file.
    if (e.name.startsWith('.')) continue;
    const full = join(path, e.name);
    if (e.isDirectory()) await collectFiles(full, out);
    else if (CONFIG_FILE.test(e.name)) out.push(full);
  }
}

/** Reads files and directories (recursively, `*.yaml`/`*.yml`/`*.json`) and parses them as one snapshot. */
export async function loadConfig(paths: readonly string[], opts: LoadOptions): Promise<LoadResult> {
  const read = await readSources(paths);
  return read.ok ? parseConfig(read.sources, opts) : read;
}

/** The texts of files and directories (recursively, `*.yaml`/`*.yml`/`*.json`), or why they cannot be read. */
export async function readSources(paths: readonly string[]): Promise<
  { readonly ok: true; readonly sources: readonly ConfigSource[] } | { readonly ok: false; readonly errors: readonly ConfigIssue[] }
> {
  const issues = new IssueList();
  const files: string[] = [];
  for (const path of paths) {
    try {
      if ((await stat(path)).isDirectory()) {
        const before = files.length;
        await collectFiles(path, files);
        if (files.length === before) issues.add(path, 1, 1, 'no .yaml, .yml or .json files in this directory');
      } else {
        files.push(path);
      }
    } catch (err) {
      issues.add(path, 1, 1, `cannot read: ${(err as Error).message}`);
    }
  }
  const sources: ConfigSource[] = [];
  for (const file of new Set(files)) { // a file named twice (`validate a.yaml dir/`) is read once
    try {
      sources.push({ file, text: await readFile(file, 'utf8') });
    } catch (err) {
      issues.add(file, 1, 1, `cannot read: ${(err as Error).message}`);
    }
  }
  if (issues.items.length > 0) return { ok: false, errors: issues.items };
  return { ok: true, sources };
}
