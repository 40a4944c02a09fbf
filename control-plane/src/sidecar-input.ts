// What a sidecar sends, checked before anything is kept or believed: its node's fields, its
// subscription, and its telemetry reports. A client can be anyone who reaches port 15010, so every
// string is bounded and shaped, and every count is bounded and consistent.
import { DNS_LABEL, SERVICE_KEY } from '../../src/config/kinds/common.js';
import { DURATION_BUCKETS } from '../../src/telemetry/mesh-metrics.js';
import type { ConfigRequest, Edge, Node, TelemetryReport } from '../proto/index.js';
import { PUSH_NAMESPACE } from '../proto/index.js';

/** A node id such as `orders-7d9f/10.0.0.7:15006` or `host/4242`: no spaces, quotes or markup. */
const NODE_ID = /^[A-Za-z0-9][A-Za-z0-9._:/@[\]+=-]{0,252}$/;
const ADDRESS = /^[A-Za-z0-9.:[\]%-]{1,262}$/;
/** Versions and nonces are the control plane's own short tokens, echoed back. */
const TOKEN = /^[A-Za-z0-9._:-]{0,128}$/;
/** A subscription past this is cut (as the sidecar itself stops asking). */
export const MAX_SUBSCRIPTION = 1_000;
/** Of a NACK's message, what is kept and shown. */
export const MAX_NACK_CHARS = 4_096;
/** Edges in one report: a sidecar has at most this many label sets (MAX_SERIES) to report from. */
export const MAX_REPORT_EDGES = 5_000;
/** Calls on one edge in one report: 10^9 in a 5 s period would be 200 million per second. */
export const MAX_EDGE_REQUESTS = 1e9;
const PROTOCOLS = new Set(['http', 'http2', 'grpc', 'tcp']);

/** Why `node` cannot be taken, or undefined. */
export function nodeProblem(node: Node | null): string | undefined {
  if (node === null || node.id === '') return 'the first request of a stream must name its node (node.id)';
  if (!NODE_ID.test(node.id)) return 'node.id must be 1-253 letters, digits and ._:/@[]+=- (e.g. host/pid)';
  if (node.service !== '' && !DNS_LABEL.test(node.service)) return 'node.service must be a DNS label (a MeshService name)';
  if (node.namespace !== '' && !DNS_LABEL.test(node.namespace)) return 'node.namespace must be a DNS label';
  if (node.address !== '' && !ADDRESS.test(node.address)) return 'node.address must be HOST:PORT';
  return undefined;
}

/** The `name.namespace` a node claims to front, or undefined for a sidecar without --service. */
export function claimedService(node: Node): string | undefined {
  return node.service === '' ? undefined : `${node.service}.${node.namespace === '' ? PUSH_NAMESPACE : node.namespace}`;
}

/** Why a stream's request cannot be taken (its node is checked once, on the first), or undefined. */
export function requestProblem(req: ConfigRequest): string | undefined {
  if (!TOKEN.test(req.version_info) || !TOKEN.test(req.response_nonce)) return 'version_info and response_nonce must be the control plane\'s own (at most 128 of [A-Za-z0-9._:-])';
  if (req.resource_names.length > 10 * MAX_SUBSCRIPTION) return `resource_names: ${req.resource_names.length} names, at most ${MAX_SUBSCRIPTION} are served`;
  const bad = req.resource_names.find((n) => !SERVICE_KEY.test(n));
  if (bad !== undefined) return `resource_names must be service keys (name.namespace), got ${JSON.stringify(bad.slice(0, 64))}${bad.length > 64 ? '...' : ''}`;
  return undefined;
}

/** Why an edge was not taken; the keys of meshlight_cp_report_edges_rejected_total's `reason`. */
export type EdgeRejection = 'not_reporter' | 'unknown_service' | 'bad_count' | 'bad_protocol' | 'duplicate' | 'too_many';

export interface CheckedReport {
  /**
   * The report with only the edges taken: errors and denials at most the requests, and no latency
   * buckets (counts only) where they do not add up to the requests.
   */
  readonly report: TelemetryReport;
  readonly rejected: Map<EdgeRejection, number>;
}

/**
 * The edges of `report` that its sender may report: calls its own service made (`source` = sender), or
 * calls into it from a caller without a sidecar (`unknown` -> sender), to a service of the mesh.
 * `sender` is the sidecar's proven service (or, without authentication, the one its node claims).
 */
export function checkReport(report: TelemetryReport, sender: string | undefined, inMesh: (service: string) => boolean): CheckedReport {
  const rejected = new Map<EdgeRejection, number>();
  const reject = (why: EdgeRejection, n = 1): void => void rejected.set(why, (rejected.get(why) ?? 0) + n);
  const edges: Edge[] = [];
  const seen = new Set<string>();
  if (report.edges.length > MAX_REPORT_EDGES) reject('too_many', report.edges.length - MAX_REPORT_EDGES);
  for (const e of report.edges.slice(0, MAX_REPORT_EDGES)) {
    const why = edgeProblem(e, sender, inMesh);
    if (why !== undefined) {
      reject(why);
      continue;
    }
    const key = `${e.source}->${e.destination}`;
    if (seen.has(key)) {
      reject('duplicate');
      continue;
    }
    seen.add(key);
    const buckets = bucketsAddUp(e.bucket_counts, e.requests) ? e.bucket_counts : [];
    edges.push({ ...e, errors: Math.min(e.errors, e.requests), denied: Math.min(e.denied, e.requests), bucket_counts: buckets });
  }
  return { report: { ...report, edges }, rejected };
}

function edgeProblem(e: Edge, sender: string | undefined, inMesh: (service: string) => boolean): EdgeRejection | undefined {
  if (sender === undefined || !(e.source === sender || (e.source === 'unknown' && e.destination === sender))) return 'not_reporter';
  if (!SERVICE_KEY.test(e.destination) || !inMesh(e.destination)) return 'unknown_service';
  if (!count(e.requests) || e.requests === 0 || !count(e.errors) || !count(e.denied)) return 'bad_count';
  if (!PROTOCOLS.has(e.protocol)) return 'bad_protocol';
  return undefined;
}

function count(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0 && n <= MAX_EDGE_REQUESTS;
}

/** The window checks the bounds are DURATION_BUCKETS; here, that the counts fit them and the requests. */
function bucketsAddUp(counts: readonly number[], requests: number): boolean {
  if (counts.length !== DURATION_BUCKETS.length + 1) return false;
  let sum = 0;
  for (const c of counts) {
    if (!count(c)) return false;
    sum += c;
  }
  return sum === requests;
}
