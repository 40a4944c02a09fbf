// `kind: MeshService`: a callable service and its endpoints.
import { isIP } from 'node:net';
import { Field } from '../reader.js';
import type { Endpoint, MeshService, Protocol } from '../types.js';
import { SERVICE_HOST, type DocMeta } from './common.js';

const PROTOCOLS: readonly Protocol[] = ['http', 'http2', 'grpc', 'tcp'];
// The proxy speaks HTTP/1.1 today; the other protocols are accepted by name so that a typo and a
// not-yet-supported protocol get different messages.
const SUPPORTED: readonly Protocol[] = ['http'];
const HOSTNAME = /^[a-zA-Z0-9]([-a-zA-Z0-9.]{0,251}[a-zA-Z0-9])?$/;

function parseAddress(field: Field): { host: string; port: number } | undefined {
  const text = field.requiredString();
  if (text === undefined) return undefined;
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  const host = m?.[1] ?? m?.[2];
  const port = Number(m?.[3]);
  if (m === null || host === undefined || port < 1 || port > 65535) {
    return field.error(`${field.path}: "${text}" is not HOST:PORT (IPv6 as [::1]:8080, port 1-65535)`);
  }
  if (m[1] !== undefined ? isIP(host) !== 6 : isIP(host) === 0 && !HOSTNAME.test(host)) {
    return field.error(`${field.path}: "${host}" is not an IP address or host name`);
  }
  return { host, port };
}

function parseEndpoint(field: Field): Endpoint | undefined {
  const f = field.fields(['address', 'labels']);
  const addressField = Field.of(f, 'address', field);
  const addr = parseAddress(addressField);
  const labels = Field.of(f, 'labels', field).stringMap();
  if (addr === undefined || labels === undefined) return undefined;
  return Object.freeze({ address: addressField.string()!, host: addr.host, port: addr.port, labels: Object.freeze(labels) });
}

/** The callers a service expects; `unknown` stands for clients without a sidecar. Not checked against the services: a caller may be a client-only sidecar. */
function parseCallers(field: Field, namespace: string): readonly string[] | undefined {
  const list = field.present ? field.list() : undefined;
  if (list === undefined) return undefined;
  const out = new Set<string>();
  for (const item of list) {
    const name = item.requiredString();
    if (name === undefined) continue;
    if (!SERVICE_HOST.test(name)) {
      item.error(`${item.path}: "${name}" is not a service name (name or name.namespace, lower-case DNS labels)`);
      continue;
    }
    out.add(name === 'unknown' || name.includes('.') ? name : `${name}.${namespace}`);
  }
  return Object.freeze([...out].sort());
}

export function parseMeshService(meta: DocMeta, spec: Field): MeshService | undefined {
  const f = spec.fields(['port', 'protocol', 'endpoints', 'callers']);
  const port = Field.of(f, 'port', spec).integer(1, 65535) ?? 80;
  const protocolField = Field.of(f, 'protocol', spec);
  const protocol = protocolField.oneOf(PROTOCOLS) ?? 'http';
  if (protocolField.present && !SUPPORTED.includes(protocol)) {
    protocolField.error(`${protocolField.path}: protocol ${protocol} is not proxied by this version yet (supported: ${SUPPORTED.join(', ')})`);
  }
  const endpointFields = Field.of(f, 'endpoints', spec).list() ?? [];
  const endpoints: Endpoint[] = [];
  const seen = new Set<string>();
  for (const ef of endpointFields) {
    const ep = parseEndpoint(ef);
    if (ep === undefined) continue;
    if (seen.has(`${ep.host}:${ep.port}`)) {
      ef.error(`${ef.path}: endpoint ${ep.address} is listed twice`);
      continue;
    }
    seen.add(`${ep.host}:${ep.port}`);
    endpoints.push(ep);
  }
  return Object.freeze({
    key: `${meta.name}.${meta.namespace}`,
    name: meta.name,
    namespace: meta.namespace,
    port,
    protocol,
    endpoints: Object.freeze(endpoints),
    callers: parseCallers(Field.of(f, 'callers', spec), meta.namespace),
  });
}
