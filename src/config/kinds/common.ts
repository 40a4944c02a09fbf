// What every kind's parser shares: the document's identity and how references to services resolve.
import { Field } from '../reader.js';
import type { MeshService, ServiceKey } from '../types.js';

export interface DocMeta {
  readonly name: string;
  readonly namespace: string;
  /** The document's root, for errors about the document as a whole. */
  readonly root: Field;
}

export interface ResolveContext {
  readonly services: ReadonlyMap<ServiceKey, MeshService>;
}

// RFC 1123 label: what a Kubernetes Service name must be, and what a Host header can carry.
const LABEL = '[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?';
export const DNS_LABEL = new RegExp(`^${LABEL}$`);
/** `name.namespace`, the key a service is known by (ServiceKey). */
export const SERVICE_KEY = new RegExp(`^${LABEL}\\.${LABEL}$`);
/** `name` or `name.namespace`: what a host can be once its port and `.svc[.cluster.local]` are gone. */
export const SERVICE_HOST = new RegExp(`^${LABEL}(\\.${LABEL})?$`);

export function checkDnsLabel(field: Field, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (!DNS_LABEL.test(value)) return field.error(`${field.path}: "${value}" is not a valid name (lower-case letters, digits and '-', at most 63, starting and ending alphanumeric)`);
  return value;
}

/** Kinds a reference may name: the Kubernetes Service (core group) or our MeshService. */
const SERVICE_KINDS: Readonly<Record<string, readonly string[]>> = {
  Service: ['', 'core'],
  MeshService: ['meshlight.dev'],
};

/**
 * Resolves a `{group, kind, name, namespace, port}` reference (parentRefs, backendRefs, targetRef) to a
 * known service, reporting unknown kinds and services at the offending field.
 */
export function resolveServiceRef(
  fields: Map<string, Field> | undefined,
  ref: Field,
  meta: DocMeta,
  ctx: ResolveContext,
): { service: MeshService; port: number | undefined } | undefined {
  const kindField = Field.of(fields, 'kind', ref);
  const groupField = Field.of(fields, 'group', ref);
  const kind = kindField.string() ?? 'Service';
  const group = groupField.string() ?? (kind === 'MeshService' ? 'meshlight.dev' : '');
  const groups = SERVICE_KINDS[kind];
  if (groups === undefined) {
    return kindField.error(`${kindField.path}: kind ${kind} is not supported here: a mesh reference names a Service or MeshService`);
  }
  if (!groups.includes(group)) return groupField.error(`${groupField.path}: group "${group}" does not go with kind ${kind} (expected "${groups[0]}")`);
  const nameField = Field.of(fields, 'name', ref);
  const name = nameField.requiredString();
  const namespace = Field.of(fields, 'namespace', ref).string() ?? meta.namespace;
  const port = Field.of(fields, 'port', ref).integer(1, 65535);
  if (name === undefined) return undefined;
  const service = ctx.services.get(`${name}.${namespace}`);
  if (service === undefined) {
    const known = [...ctx.services.keys()].join(', ') || 'none';
    return nameField.error(`${nameField.path}: unknown service "${name}.${namespace}" (known: ${known})`);
  }
  if (port !== undefined && port !== service.port) {
    return Field.of(fields, 'port', ref).error(`${ref.path}.port: service ${service.key} listens on port ${service.port}, not ${port}`);
  }
  return { service, port };
}
