// The JSONPatch (RFC 6902) an admission webhook answers with: one `add` per pod field injection
// changed (an `add` of a member that exists replaces it), so the API server applies exactly our result.
import { isObject } from './pod.js';

export interface PatchOp {
  readonly op: 'add';
  readonly path: string;
  readonly value: unknown;
}

/** The fields of a pod injection may change, by parent. */
const FIELDS = { metadata: ['annotations'], spec: ['initContainers', 'containers'] } as const;

export function podPatch(before: Record<string, unknown>, after: Record<string, unknown>): PatchOp[] {
  const ops: PatchOp[] = [];
  for (const [parent, fields] of Object.entries(FIELDS)) {
    const a = after[parent];
    const b = before[parent];
    if (!isObject(a)) continue;
    if (!isObject(b)) {
      ops.push({ op: 'add', path: `/${parent}`, value: a });
      continue;
    }
    for (const field of fields) {
      if (JSON.stringify(b[field]) !== JSON.stringify(a[field])) ops.push({ op: 'add', path: `/${parent}/${field}`, value: a[field] });
    }
  }
  return ops;
}
