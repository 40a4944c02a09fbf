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

/** Apps at BASE+1..5, sidecar inbound at BASE+1001.., outbound BASE+1101.., admin BASE+1201.., control plane BASE+930 and +934. */
export const DEFAULT_BASE_PORT = 18080;
/** The highest port of the demo is its base plus this. */
export const BASE_PORT_SPAN = 1205;

type Shape = Omit<DemoInstance, 'appPort' | 'inbound' | 'outbound' | 'admin'>;

const SHAPES: readonly Shape[] = [
  {
    service: 'frontend', instance: 'frontend', version: 'v1', latencyMs: 1, errorRate: 0, slowRate: 0,
    calls: [{ service: 'orders', method: 'GET', path: '/orders' }],
  },
  {
    service: 'orders', instance: 'orders-v1', version: 'v1', latencyMs: 3, errorRate: 0, slowRate: 0,
    calls: [{ service: 'inventory', method: 'GET', path: '/stock' }, { service: 'payments', method: 'POST', path: '/charge' }],
  },
  {
    service: 'orders', instance: 'orders-v2', version: 'v2', latencyMs: 25, errorRate: 0.02, slowRate: 0,
    calls: [{ service: 'inventory', method: 'GET', path: '/stock' }, { service: 'payments', method: 'POST', path: '/charge' }],
  },
  { service: 'inventory', instance: 'inventory', version: 'v1', latencyMs: 2, errorRate: 0, slowRate: 0, calls: [] },
  // payments fails 5% of calls and is slow 2% of the time: past its route's 2s timeout, so a 504 (UT).
  { service: 'payments', instance: 'payments', version: 'v1', latencyMs: 5, errorRate: 0.05, slowRate: 0.02, calls: [] },
];

/** Every port of one demo mesh, laid out from its base port. */
export class DemoPorts {
  readonly instances: readonly DemoInstance[];
  /** The demo's control plane: gRPC for the sidecars, HTTP for the graph (Istio's 15010/15014, moved next to the demo's). */
  readonly controlPlane: { readonly grpc: number; readonly http: number };

  constructor(readonly base = DEFAULT_BASE_PORT) {
    this.instances = SHAPES.map((shape, i) => {
      const n = i + 1;
      return { ...shape, appPort: base + n, inbound: base + 1000 + n, outbound: base + 1100 + n, admin: base + 1200 + n };
    });
    this.controlPlane = { grpc: base + 930, http: base + 934 };
  }

  /** Every port with what listens there, for a message that names a busy one. */
  all(): { port: number; what: string }[] {
    return [
      { port: this.controlPlane.grpc, what: "the control plane's gRPC" },
      { port: this.controlPlane.http, what: "the control plane's HTTP" },
      ...this.instances.flatMap((a) => [
        { port: a.appPort, what: `the ${a.instance} app` },
        { port: a.inbound, what: `${a.instance}'s sidecar inbound` },
        { port: a.outbound, what: `${a.instance}'s sidecar outbound` },
        { port: a.admin, what: `${a.instance}'s sidecar admin` },
      ]),
    ];
  }

  instance(name: string): DemoInstance {
    return this.instances.find((a) => a.instance === name)!;
  }
}

/** The demo on its default ports, which config/demo's endpoints name. */
export const DEMO_PORTS = new DemoPorts();

/** The canary: the `orders` HTTPRoute splits between these MeshServices by weight. */
export const CANARY = { service: 'orders', subsets: { 'orders-v1': 90, 'orders-v2': 10 } } as const;
export const SLOW_ANSWER_MS = 3_000;
