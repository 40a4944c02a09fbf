// `meshlight inject -f`: every pod template in a multi-document manifest gets the sidecar (unless it
// opts out); every other document passes through. Like `istioctl kube-inject` and `linkerd inject`.
import { parseAllDocuments, stringify } from 'yaml';
import { decide, injectTemplate } from './inject.js';
import { isObject, type PodTemplate } from './pod.js';
import type { SidecarSettings } from './sidecar-template.js';

export interface ManifestResult {
  readonly text: string;
  /** One line per workload: injected, or why not. */
  readonly notes: readonly string[];
}

export class ManifestError extends Error {
  override readonly name = 'ManifestError';
}

const TEMPLATE_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'ReplicationController', 'Job']);

export function injectManifest(text: string, source: string, settings: SidecarSettings): ManifestResult {
  const notes: string[] = [];
  const out: string[] = [];
  for (const doc of parseAllDocuments(text)) {
    const problem = doc.errors[0];
    if (problem !== undefined) {
      const at = problem.linePos?.[0];
      throw new ManifestError(`${source}:${at?.line ?? 1}:${at?.col ?? 1}: ${problem.message.split('\n')[0]}`);
    }
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue;
    out.push(stringify(injectObject(value, notes, settings), { lineWidth: 0 }));
  }
  return { text: out.join('---\n'), notes };
}

function injectObject(obj: unknown, notes: string[], settings: SidecarSettings): unknown {
  if (!isObject(obj)) return obj;
  const kind = obj['kind'];
  if (kind === 'List' && Array.isArray(obj['items'])) return { ...obj, items: obj['items'].map((i) => injectObject(i, notes, settings)) };
  const name = isObject(obj['metadata']) && typeof obj['metadata']['name'] === 'string' ? obj['metadata']['name'] : undefined;
  const what = `${String(kind)}/${name ?? '?'}`;
  const spec = obj['spec'];
  if (!isObject(spec)) return obj;
  if (kind === 'Pod') return isPodTemplate(obj) ? { ...obj, ...injectOne(obj, what, name, notes, settings) } : obj;
  let holder: Record<string, unknown> | undefined;
  if (typeof kind === 'string' && TEMPLATE_KINDS.has(kind)) holder = spec;
  else if (kind === 'CronJob' && isObject(spec['jobTemplate']) && isObject(spec['jobTemplate']['spec'])) holder = spec['jobTemplate']['spec'];
  if (holder === undefined || !isPodTemplate(holder['template'])) return obj;
  const injected = injectOne(holder['template'], what, name, notes, settings);
  const copy = structuredClone(obj);
  const target = kind === 'CronJob' ? ((copy['spec'] as { jobTemplate: { spec: Record<string, unknown> } }).jobTemplate.spec) : (copy['spec'] as Record<string, unknown>);
  target['template'] = injected;
  return copy;
}

function injectOne(t: PodTemplate, what: string, name: string | undefined, notes: string[], settings: SidecarSettings): PodTemplate {
  const d = decide(t, undefined);
  if (!d.inject) {
    notes.push(`${what}: not injected (${d.reason})`);
    return t;
  }
  notes.push(`${what}: injected`);
  return injectTemplate(t, settings, name);
}

function isPodTemplate(v: unknown): v is PodTemplate {
  return isObject(v) && isObject(v['spec']) && Array.isArray(v['spec']['containers']);
}
