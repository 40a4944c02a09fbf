// The demo mesh in one table: which apps run, on which loopback ports, whom they call and how they
// misbehave. config/demo/*.yaml must agree with it (topology.test.ts checks).

export interface DemoInstance {
  /** The MeshService this instance is an endpoint of (what its sidecar's --service says). */
  readonly service: string;
  /** Unique instance name: `orders-v1`, or the service name when there is one instance. */
  readonly instance: string;
  readonly version: string;
  readonly appPort: number;
  /** The sidecar's ports; MeshService endpoints point at `inbound`, so every call crosses two sidecars. */
  readonly inbound: number;
  readonly outbound: number;
  readonly admin: number;
  /** Services this app calls (through its own sidecar's outbound listener), with method and path. */
  readonly calls: readonly { readonly service: string; readonly method: string; readonly path: string }[];
  /** Its own behaviour: added latency, share of 503s, share of slow (3 s) answers. */
  readonly latencyMs: number;
  readonly errorRate: number;
  readonly slowRate: number;
}

function instance(n: number, rest: Omit<DemoInstance, 'appPort' | 'inbound' | 'outbound' | 'admin'>): DemoInstance {
  return { ...rest, appPort: 18080 + n, inbound: 19080 + n, outbound: 19180 + n, admin: 19280 + n };
}

export const DEMO_INSTANCES: readonly DemoInstance[] = [
  instance(1, {
    service: 'frontend', instance: 'frontend', version: 'v1', latencyMs: 1, errorRate: 0, slowRate: 0,
    calls: [{ service: 'orders', method: 'GET', path: '/orders' }],
  }),
  instance(2, {
    service: 'orders', instance: 'orders-v1', version: 'v1', latencyMs: 3, errorRate: 0, slowRate: 0,
    calls: [{ service: 'inventory', method: 'GET', path: '/stock' }, { service: 'payments', method: 'POST', path: '/charge' }],
  }),
  instance(3, {
    service: 'orders', instance: 'orders-v2', version: 'v2', latencyMs: 25, errorRate: 0.02, slowRate: 0,
    calls: [{ service: 'inventory', method: 'GET', path: '/stock' }, { service: 'payments', method: 'POST', path: '/charge' }],
  }),
  instance(4, { service: 'inventory', instance: 'inventory', version: 'v1', latencyMs: 2, errorRate: 0, slowRate: 0, calls: [] }),
  // payments fails 5% of calls and is slow 2% of the time: past its route's 2s timeout, so a 504 (UT).
  instance(5, { service: 'payments', instance: 'payments', version: 'v1', latencyMs: 5, errorRate: 0.05, slowRate: 0.02, calls: [] }),
];

/** The demo's control plane: gRPC for the sidecars, HTTP for the graph (Istio's 15010/15014, moved next to the demo's). */
export const DEMO_CONTROL_PLANE = { grpc: 19010, http: 19014 } as const;

/** The canary: the `orders` HTTPRoute splits between these MeshServices by weight. */
export const CANARY = { service: 'orders', subsets: { 'orders-v1': 90, 'orders-v2': 10 } } as const;
export const SLOW_ANSWER_MS = 3_000;
