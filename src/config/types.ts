// The validated, immutable result of reading route YAML. Everything downstream (routing, filters,
// upstream pools, admin) reads only these types and never re-checks them.

/** `name.namespace`: the one key a service is known by inside a snapshot. */
export type ServiceKey = string;

export interface Endpoint {
  /** `host:port` as written (`[::1]:8080` for IPv6). */
  readonly address: string;
  readonly host: string;
  readonly port: number;
  readonly labels: Readonly<Record<string, string>>;
}

export type Protocol = 'http' | 'http2' | 'grpc' | 'tcp';

export interface MeshService {
  readonly key: ServiceKey;
  readonly name: string;
  readonly namespace: string;
  readonly port: number;
  readonly protocol: Protocol;
  readonly endpoints: readonly Endpoint[];
  /**
   * Keys of the services expected to call this one (`unknown`: clients without a sidecar); undefined
   * when the service declares none. Only the graph reads it: it marks other callers unexpected.
   */
  readonly callers: readonly ServiceKey[] | undefined;
}

export type PathMatchType = 'Exact' | 'PathPrefix' | 'RegularExpression';
export type ValueMatchType = 'Exact' | 'RegularExpression';

export interface PathMatch {
  readonly type: PathMatchType;
  readonly value: string;
}

export interface ValueMatch {
  readonly type: ValueMatchType;
  /** Header names are lower-cased; query parameter names are kept as written (they are case-sensitive). */
  readonly name: string;
  readonly value: string;
}

export interface RouteMatch {
  /** Absent in YAML means `PathPrefix /`, and the parser fills that in. */
  readonly path: PathMatch;
  readonly headers: readonly ValueMatch[];
  readonly queryParams: readonly ValueMatch[];
  /** Upper-case HTTP method, or undefined for any. */
  readonly method: string | undefined;
}

export interface HeaderModifier {
  /** Lower-cased names. */
  readonly set: readonly { readonly name: string; readonly value: string }[];
  readonly add: readonly { readonly name: string; readonly value: string }[];
  readonly remove: readonly string[];
}

export type PathModifier =
  | { readonly type: 'ReplaceFullPath'; readonly value: string }
  | { readonly type: 'ReplacePrefixMatch'; readonly value: string };

export type RouteFilter =
  | { readonly type: 'RequestHeaderModifier'; readonly requestHeaderModifier: HeaderModifier }
  | { readonly type: 'ResponseHeaderModifier'; readonly responseHeaderModifier: HeaderModifier }
  | {
      readonly type: 'URLRewrite';
      readonly urlRewrite: { readonly hostname: string | undefined; readonly path: PathModifier | undefined };
    }
  | {
      readonly type: 'RequestRedirect';
      readonly requestRedirect: {
        readonly scheme: 'http' | 'https' | undefined;
        readonly hostname: string | undefined;
        readonly path: PathModifier | undefined;
        readonly port: number | undefined;
        /** 302 (the Gateway API default) or 301, 303, 307, 308. */
        readonly statusCode: number;
      };
    };

export interface BackendRef {
  readonly service: ServiceKey;
  readonly port: number | undefined;
  /** >= 0; Gateway API default 1. */
  readonly weight: number;
}

export interface RouteTimeouts {
  /** Milliseconds; undefined = no limit. */
  readonly request: number | undefined;
  readonly backendRequest: number | undefined;
}

export interface RouteRule {
  /** `<route name>.<rule name>`, or `<route name>.<rule index>` for an unnamed rule; what metrics and logs call the route. */
  readonly name: string;
  readonly matches: readonly RouteMatch[];
  readonly filters: readonly RouteFilter[];
  readonly backendRefs: readonly BackendRef[];
  readonly timeouts: RouteTimeouts;
}

export interface HttpRoute {
  readonly name: string;
  readonly namespace: string;
  /** The services whose calls this route governs (GAMMA parentRefs), resolved to keys. */
  readonly parents: readonly { readonly service: ServiceKey; readonly port: number | undefined }[];
  readonly rules: readonly RouteRule[];
  /** `FILE:LINE` of the document, for diagnostics and /config_dump. */
  readonly source: string;
}

export type Propagation = 'w3c' | 'b3' | 'b3multi';

export interface TelemetryConfig {
  readonly name: string;
  readonly namespace: string;
  /** Undefined = mesh-wide. */
  readonly targetService: ServiceKey | undefined;
  readonly tracing: { readonly samplingPercentage: number; readonly propagation: readonly Propagation[] };
  readonly accessLog: { readonly enabled: boolean };
}

export interface Snapshot {
  /** A short content hash of the sources: equal text -> equal version. */
  readonly version: string;
  readonly services: ReadonlyMap<ServiceKey, MeshService>;
  /** In Gateway API precedence order for ties: oldest first is unknowable from YAML, so namespace/name. */
  readonly httpRoutes: readonly HttpRoute[];
  readonly telemetry: readonly TelemetryConfig[];
  /** The files read, in the order read. */
  readonly sources: readonly string[];
}

/** One problem in the input, positioned at the offending node. `toString()` gives `FILE:LINE:COL: message`. */
export interface ConfigIssue {
  readonly file: string;
  readonly line: number;
  readonly col: number;
  readonly message: string;
}

export type LoadResult =
  | { readonly ok: true; readonly snapshot: Snapshot }
  | { readonly ok: false; readonly errors: readonly ConfigIssue[] };
