// The control plane's own /metrics: who is connected, what was pushed, how fast it was applied (like
// istiod's pilot_xds_pushes and pilot_proxy_convergence_time), and how much telemetry comes in.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Read when scraped. */
export interface ControlPlaneState {
  connectedSidecars(): number;
  configRejected(): boolean;
  activeTaps(): number;
}

export class ControlPlaneMetrics {
  readonly registry = new Registry();
  readonly pushes = new Counter({ name: 'meshlight_cp_pushes_total', help: 'Config responses sent to sidecars.', registers: [this.registry] });
  readonly acks = new Counter({ name: 'meshlight_cp_acks_total', help: 'Config responses a sidecar applied.', registers: [this.registry] });
  readonly nacks = new Counter({ name: 'meshlight_cp_nacks_total', help: 'Config responses a sidecar rejected.', registers: [this.registry] });
  readonly convergence = new Histogram({
    name: 'meshlight_cp_push_ack_seconds',
    help: 'From sending a config to a sidecar to its ACK: how long a change takes to be in force there.',
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly reports = new Counter({ name: 'meshlight_cp_reports_total', help: 'Telemetry reports received from sidecars.', registers: [this.registry] });
  readonly reportEdges = new Counter({ name: 'meshlight_cp_report_edges_total', help: 'Edges (caller, callee) taken from the telemetry reports received.', registers: [this.registry] });
  readonly refused = new Counter({
    name: 'meshlight_cp_refused_total',
    help: 'Config streams and reports refused, by gRPC status: UNAUTHENTICATED (no known token), PERMISSION_DENIED (another service than the token\'s), INVALID_ARGUMENT (malformed), RESOURCE_EXHAUSTED (past a limit).',
    labelNames: ['status'] as const,
    registers: [this.registry],
  });
  readonly tapRequests = new Counter({ name: 'meshlight_cp_tap_requests_total', help: 'Tapped requests delivered to readers (meshlight tap, the dashboard).', registers: [this.registry] });
  readonly tapDropped = new Counter({
    name: 'meshlight_cp_tap_dropped_total', help: 'Tapped requests dropped because a sidecar\'s tap buffer or a reader was full.', registers: [this.registry],
  });
  readonly reportEdgesRejected = new Counter({
    name: 'meshlight_cp_report_edges_rejected_total',
    help: 'Edges of telemetry reports not taken: not the sender\'s own calls (not_reporter), to a service not in the mesh (unknown_service), impossible counts (bad_count), an unknown protocol (bad_protocol), a repeat in one report (duplicate), past the per-report cap (too_many).',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  constructor(state: ControlPlaneState) {
    collectDefaultMetrics({ register: this.registry });
    new Gauge({
      name: 'meshlight_cp_connected_sidecars', help: 'Sidecars with an open config stream.', registers: [this.registry],
      collect() { this.set(state.connectedSidecars()); },
    });
    new Gauge({
      name: 'meshlight_cp_config_rejected', help: '1 while the newest config on disk is invalid and the last good one is served.', registers: [this.registry],
      collect() { this.set(state.configRejected() ? 1 : 0); },
    });
    new Gauge({
      name: 'meshlight_cp_taps', help: 'Taps being read (meshlight tap, the dashboard).', registers: [this.registry],
      collect() { this.set(state.activeTaps()); },
    });
  }
}
