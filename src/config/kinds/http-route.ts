// `kind: HTTPRoute` (Gateway API v1) in its mesh (GAMMA) form: parentRefs name the service whose calls
// the route governs. Everything is checked here, so routing compiles it without re-checking.
import { parseDuration } from '../duration.js';
import { Field } from '../reader.js';
import type {
  BackendRef, HeaderModifier, HttpRoute, PathMatch, PathModifier, RouteFilter, RouteMatch, RouteRule, ValueMatch,
} from '../types.js';
import { resolveServiceRef, type DocMeta, type ResolveContext } from './common.js';

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'] as const;
const MAX_WEIGHT = 1_000_000;
const LATER_FILTERS = new Set(['RequestMirror', 'ExtensionRef', 'CORS', 'ExternalAuth']);

function checkRegex(field: Field, value: string): boolean {
  try {
    new RegExp(`^(?:${value})$`);
    return true;
  } catch (err) {
    field.error(`${field.path}: invalid regular expression: ${(err as Error).message.replace(/^.*: /, '')}`);
    return false;
  }
}

function headerValue(field: Field): string | undefined {
  const v = field.requiredString();
  if (v !== undefined && /[\r\n\0]/.test(v)) return field.error(`${field.path}: header values cannot contain CR, LF or NUL`);
  return v;
}

function headerName(field: Field): string | undefined {
  const v = field.requiredString();
  if (v !== undefined && !TOKEN.test(v)) return field.error(`${field.path}: "${v}" is not a valid HTTP header name`);
  return v;
}

function parsePath(field: Field): PathMatch | undefined {
  const f = field.fields(['type', 'value']);
  const type = Field.of(f, 'type', field).oneOf(['Exact', 'PathPrefix', 'RegularExpression'] as const) ?? 'PathPrefix';
  const valueField = Field.of(f, 'value', field);
  const value = valueField.string() ?? '/';
  if (type === 'RegularExpression') return checkRegex(valueField, value) ? { type, value } : undefined;
  if (!value.startsWith('/')) return valueField.error(`${valueField.path}: a path must start with "/"`);
  if (/[?#]/.test(value)) return valueField.error(`${valueField.path}: a path match cannot contain "?" or "#" (match query parameters with queryParams)`);
  return { type, value };
}

function parseValueMatches(list: Field, lowerCase: boolean): ValueMatch[] {
  const out: ValueMatch[] = [];
  const names = new Set<string>();
  for (const item of list.list() ?? []) {
    const f = item.fields(['type', 'name', 'value']);
    const type = Field.of(f, 'type', item).oneOf(['Exact', 'RegularExpression'] as const) ?? 'Exact';
    const nameField = Field.of(f, 'name', item);
    const raw = lowerCase ? headerName(nameField) : nameField.requiredString();
    const valueField = Field.of(f, 'value', item);
    const value = valueField.requiredString();
    if (raw === undefined || value === undefined) continue;
    if (type === 'RegularExpression' && !checkRegex(valueField, value)) continue;
    const name = lowerCase ? raw.toLowerCase() : raw;
    if (names.has(name)) {
      nameField.error(`${nameField.path}: "${raw}" is matched twice in one match`);
      continue;
    }
    names.add(name);
    out.push(Object.freeze({ type, name, value }));
  }
  return out;
}

function parseMatch(field: Field): RouteMatch | undefined {
  const f = field.fields(['path', 'headers', 'queryParams', 'method']);
  const pathField = Field.of(f, 'path', field);
  const path = pathField.present ? parsePath(pathField) : { type: 'PathPrefix' as const, value: '/' };
  const headers = parseValueMatches(Field.of(f, 'headers', field), true);
  const queryParams = parseValueMatches(Field.of(f, 'queryParams', field), false);
  const method = Field.of(f, 'method', field).oneOf(METHODS);
  if (path === undefined) return undefined;
  return Object.freeze({ path: Object.freeze(path), headers: Object.freeze(headers), queryParams: Object.freeze(queryParams), method });
}

function parseHeaderModifier(field: Field): HeaderModifier {
  const f = field.fields(['set', 'add', 'remove']);
  const seen = new Set<string>();
  const pairs = (name: string): { name: string; value: string }[] => {
    const out: { name: string; value: string }[] = [];
    for (const item of Field.of(f, name, field).list() ?? []) {
      const g = item.fields(['name', 'value']);
      const nameField = Field.of(g, 'name', item);
      const n = headerName(nameField);
      const v = headerValue(Field.of(g, 'value', item));
      if (n === undefined || v === undefined) continue;
      if (seen.has(n.toLowerCase())) nameField.error(`${nameField.path}: header "${n}" is modified twice in one filter`);
      seen.add(n.toLowerCase());
      out.push(Object.freeze({ name: n.toLowerCase(), value: v }));
    }
    return out;
  };
  const set = pairs('set');
  const add = pairs('add');
  const remove: string[] = [];
  for (const item of Field.of(f, 'remove', field).list() ?? []) {
    const n = headerName(item);
    if (n !== undefined) remove.push(n.toLowerCase());
  }
  return Object.freeze({ set: Object.freeze(set), add: Object.freeze(add), remove: Object.freeze(remove) });
}

function parsePathModifier(field: Field): PathModifier | undefined {
  if (!field.present) return undefined;
  const f = field.fields(['type', 'replaceFullPath', 'replacePrefixMatch']);
  const type = Field.of(f, 'type', field).oneOf(['ReplaceFullPath', 'ReplacePrefixMatch'] as const);
  if (type === undefined) return Field.of(f, 'type', field).present ? undefined : field.error(`${field.path}.type: required`);
  const valueField = Field.of(f, type === 'ReplaceFullPath' ? 'replaceFullPath' : 'replacePrefixMatch', field);
  const value = valueField.requiredString();
  if (value === undefined) return undefined;
  if (!value.startsWith('/')) return valueField.error(`${valueField.path}: must start with "/"`);
  return Object.freeze({ type, value });
}

function hostname(field: Field): string | undefined {
  const h = field.string();
  if (h !== undefined && !/^[a-zA-Z0-9]([-a-zA-Z0-9.]{0,251}[a-zA-Z0-9])?$/.test(h)) return field.error(`${field.path}: "${h}" is not a host name`);
  return h;
}

function parseFilter(field: Field): RouteFilter | undefined {
  const f = field.fields(['type', 'requestHeaderModifier', 'responseHeaderModifier', 'urlRewrite', 'requestRedirect', 'requestMirror', 'extensionRef', 'cors', 'externalAuth']);
  const typeField = Field.of(f, 'type', field);
  const type = typeField.requiredString();
  if (type === undefined) return undefined;
  const body = (name: string): Field => Field.of(f, name, field);
  switch (type) {
    case 'RequestHeaderModifier':
      return { type, requestHeaderModifier: parseHeaderModifier(body('requestHeaderModifier')) };
    case 'ResponseHeaderModifier':
      return { type, responseHeaderModifier: parseHeaderModifier(body('responseHeaderModifier')) };
    case 'URLRewrite': {
      const b = body('urlRewrite');
      const g = b.fields(['hostname', 'path']);
      return { type, urlRewrite: Object.freeze({ hostname: hostname(Field.of(g, 'hostname', b)), path: parsePathModifier(Field.of(g, 'path', b)) }) };
    }
    case 'RequestRedirect': {
      const b = body('requestRedirect');
      const g = b.fields(['scheme', 'hostname', 'path', 'port', 'statusCode']);
      return {
        type,
        requestRedirect: Object.freeze({
          scheme: Field.of(g, 'scheme', b).oneOf(['http', 'https'] as const),
          hostname: hostname(Field.of(g, 'hostname', b)),
          path: parsePathModifier(Field.of(g, 'path', b)),
          port: Field.of(g, 'port', b).integer(1, 65535),
          statusCode: statusCode(Field.of(g, 'statusCode', b)),
        }),
      };
    }
    default:
      if (LATER_FILTERS.has(type)) return typeField.error(`${typeField.path}: filter ${type} is not supported by this version yet`);
      return typeField.error(`${typeField.path}: unknown filter type "${type}" (expected RequestHeaderModifier, ResponseHeaderModifier, URLRewrite or RequestRedirect)`);
  }
}

function statusCode(field: Field): number {
  const n = field.integer(100, 599);
  if (n === undefined) return 302;
  if (![301, 302, 303, 307, 308].includes(n)) field.error(`${field.path}: redirect status must be 301, 302, 303, 307 or 308, got ${n}`);
  return n;
}

function parseBackendRef(field: Field, meta: DocMeta, ctx: ResolveContext): BackendRef | undefined {
  const f = field.fields(['group', 'kind', 'name', 'namespace', 'port', 'weight', 'filters']);
  const filters = Field.of(f, 'filters', field);
  if (filters.present) filters.error(`${filters.path}: per-backend filters are not supported by this version yet; put them on the rule`);
  const weight = Field.of(f, 'weight', field).integer(0, MAX_WEIGHT) ?? 1;
  const ref = resolveServiceRef(f, field, meta, ctx);
  return ref === undefined ? undefined : Object.freeze({ service: ref.service.key, port: ref.port, weight });
}

function timeout(field: Field): number | undefined {
  const text = field.string();
  if (text === undefined) return undefined;
  const ms = parseDuration(text);
  if (ms === undefined) return field.error(`${field.path}: "${text}" is not a duration (e.g. 250ms, 2s, 1m)`);
  return ms === 0 ? undefined : ms; // Gateway API: 0s disables the timeout
}

function parseRule(field: Field, index: number, meta: DocMeta, ctx: ResolveContext): RouteRule | undefined {
  const f = field.fields(['name', 'matches', 'filters', 'backendRefs', 'timeouts', 'retry', 'sessionPersistence']);
  for (const later of ['retry', 'sessionPersistence']) {
    const l = Field.of(f, later, field);
    if (l.present) l.error(`${l.path}: not supported by this version yet`);
  }
  const name = Field.of(f, 'name', field).string();
  const matchesField = Field.of(f, 'matches', field);
  const matchFields = matchesField.list() ?? [];
  const matches = matchesField.present ? matchFields.map(parseMatch) : [parseMatch(new Field(field.src, null, '', 0))];
  const filterFields = Field.of(f, 'filters', field).list() ?? [];
  const filters = filterFields.map(parseFilter);
  const types = new Set<string>();
  filters.forEach((flt, i) => {
    if (flt === undefined) return;
    if (types.has(flt.type)) filterFields[i]!.error(`${filterFields[i]!.path}: filter ${flt.type} appears twice in one rule`);
    types.add(flt.type);
  });
  if (types.has('RequestRedirect') && types.has('URLRewrite')) {
    Field.of(f, 'filters', field).error(`${field.path}.filters: RequestRedirect and URLRewrite cannot be used in the same rule`);
  }
  const prefixReplace = filters.some((x) =>
    (x?.type === 'URLRewrite' && x.urlRewrite.path?.type === 'ReplacePrefixMatch') ||
    (x?.type === 'RequestRedirect' && x.requestRedirect.path?.type === 'ReplacePrefixMatch'));
  if (prefixReplace && matches.some((m) => m !== undefined && m.path.type !== 'PathPrefix')) {
    Field.of(f, 'filters', field).error(`${field.path}.filters: ReplacePrefixMatch needs every match of the rule to be a PathPrefix match`);
  }
  const backendRefs = (Field.of(f, 'backendRefs', field).list() ?? []).map((b) => parseBackendRef(b, meta, ctx));
  const tf = Field.of(f, 'timeouts', field);
  const t = tf.fields(['request', 'backendRequest']);
  const request = timeout(Field.of(t, 'request', tf));
  const backendRequestField = Field.of(t, 'backendRequest', tf);
  const backendRequest = timeout(backendRequestField);
  if (request !== undefined && backendRequest !== undefined && backendRequest > request) {
    backendRequestField.error(`${backendRequestField.path}: must not be longer than timeouts.request`);
  }
  if (matches.includes(undefined) || filters.includes(undefined) || backendRefs.includes(undefined)) return undefined;
  return Object.freeze({
    name: `${meta.name}.${name ?? index}`,
    matches: Object.freeze(matches as RouteMatch[]),
    filters: Object.freeze(filters as RouteFilter[]),
    backendRefs: Object.freeze(backendRefs as BackendRef[]),
    timeouts: Object.freeze({ request, backendRequest }),
  });
}

export function parseHttpRoute(meta: DocMeta, spec: Field, ctx: ResolveContext): HttpRoute | undefined {
  const f = spec.fields(['parentRefs', 'hostnames', 'rules']);
  const hostnames = Field.of(f, 'hostnames', spec);
  if (hostnames.present) {
    hostnames.error(`${hostnames.path}: has no meaning for a mesh route: the parentRef already names the service whose calls it governs`);
  }
  const parentsField = Field.of(f, 'parentRefs', spec);
  const parentFields = parentsField.list() ?? [];
  if (parentsField.present && parentFields.length === 0 || !parentsField.present) {
    parentsField.error(`${parentsField.path}: required: name the Service or MeshService whose calls this route governs`);
  }
  const parents = parentFields.map((p) => {
    const pf = p.fields(['group', 'kind', 'name', 'namespace', 'port', 'sectionName']);
    const section = Field.of(pf, 'sectionName', p);
    if (section.present) section.error(`${section.path}: not supported for a mesh route; use port`);
    const kind = Field.of(pf, 'kind', p);
    if (kind.string() === 'Gateway') return kind.error(`${kind.path}: meshlight routes calls between services (GAMMA): parentRefs name a Service or MeshService, not a Gateway`);
    const ref = resolveServiceRef(pf, p, meta, ctx);
    return ref === undefined ? undefined : Object.freeze({ service: ref.service.key, port: ref.port });
  });
  const rulesField = Field.of(f, 'rules', spec);
  const ruleFields = rulesField.list() ?? [];
  if (ruleFields.length === 0) rulesField.error(`${rulesField.path}: required: at least one rule`);
  const rules = ruleFields.map((r, i) => parseRule(r, i, meta, ctx));
  const names = new Set<string>();
  rules.forEach((r, i) => {
    if (r === undefined) return;
    if (names.has(r.name)) ruleFields[i]!.error(`${ruleFields[i]!.path}.name: two rules are named "${r.name}"`);
    names.add(r.name);
  });
  if (parents.includes(undefined) || rules.includes(undefined) || ruleFields.length === 0) return undefined;
  return Object.freeze({
    name: meta.name,
    namespace: meta.namespace,
    parents: Object.freeze(parents as HttpRoute['parents'][number][]),
    rules: Object.freeze(rules as RouteRule[]),
    source: meta.root.where,
  });
}
