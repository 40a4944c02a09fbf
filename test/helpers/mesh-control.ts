// A raw client of the control plane's gRPC port (15010), for tests that send what a real sidecar would
// not: other nodes, forged reports, bad messages.
import * as grpc from '@grpc/grpc-js';
import { meshControl, type ConfigRequest, type ConfigResponse, type Edge, type MeshControlClient, type Node, type TelemetryReport } from '../../control-plane/proto/index.js';
import { DURATION_BUCKETS } from '../../src/telemetry/mesh-metrics.js';

export function meshClient(address: string): MeshControlClient {
  // No send limit of its own, so the control plane's receive limit is what is tested.
  return new (meshControl().Client)(address, grpc.credentials.createInsecure(), { 'grpc.max_send_message_length': -1 });
}

export function bearer(token: string | undefined): grpc.Metadata {
  const m = new grpc.Metadata();
  if (token !== undefined) m.set('authorization', `Bearer ${token}`);
  return m;
}

export function node(id: string, service: string, more: Partial<Node> = {}): Node {
  return { id, service, namespace: 'default', address: '', ...more };
}

export function request(n: Node | null, resourceNames: string[] = [], more: Partial<ConfigRequest> = {}): ConfigRequest {
  return { node: n, version_info: '', response_nonce: '', resource_names: resourceNames, error_detail: null, ...more };
}

/** What one config stream got: its responses, and how it ended. */
export interface StreamResult {
  readonly responses: ConfigResponse[];
  readonly error: grpc.ServiceError | undefined;
}

/**
 * Opens a config stream, sends `first`, waits for the first response or the stream's end (at most
 * `ms`), and closes it. `onResponse` may answer (an ACK or NACK) on the stream.
 */
export async function openStream(client: MeshControlClient, token: string | undefined, first: ConfigRequest, ms = 3_000,
  onResponse?: (r: ConfigResponse, stream: grpc.ClientDuplexStream<ConfigRequest, ConfigResponse>) => void): Promise<StreamResult> {
  const stream = client.StreamConfig(bearer(token));
  const responses: ConfigResponse[] = [];
  const error = await new Promise<grpc.ServiceError | undefined>((resolve) => {
    const timer = setTimeout(() => resolve(undefined), ms);
    stream.on('data', (r: ConfigResponse) => {
      responses.push(r);
      onResponse?.(r, stream);
      if (onResponse === undefined) {
        clearTimeout(timer);
        resolve(undefined);
      }
    });
    stream.on('error', (err: grpc.ServiceError) => {
      clearTimeout(timer);
      resolve(err);
    });
    stream.write(first);
  });
  stream.cancel();
  return { responses, error };
}

export function edge(source: string, destination: string, requests: number, more: Partial<Edge> = {}): Edge {
  const buckets = new Array<number>(DURATION_BUCKETS.length + 1).fill(0);
  buckets[4] = requests; // (5, 10] ms
  return { source, destination, protocol: 'http', requests, errors: 0, denied: 0, bucket_counts: buckets, duration_sum_seconds: requests * 0.008, ...more };
}

export function report(n: Node | null, edges: Edge[], bounds: number[] = DURATION_BUCKETS): TelemetryReport {
  return { node: n, timestamp_ms: Date.now(), period_ms: 5_000, bucket_bounds: bounds, edges };
}

/** Sends a report; resolves with the error status, or undefined when it was taken. */
export function sendReport(client: MeshControlClient, token: string | undefined, r: TelemetryReport): Promise<grpc.ServiceError | undefined> {
  return new Promise((resolve) => client.Report(r, bearer(token), { deadline: Date.now() + 10_000 }, (err) => resolve(err ?? undefined)));
}

/** A call of any method with raw bytes as the message: for what no well-behaved client sends. */
export function rawCall(client: grpc.Client, method: string, bytes: Buffer, token?: string): Promise<grpc.ServiceError | undefined> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(method, (b: Buffer) => b, (b: Buffer) => b, bytes, bearer(token), { deadline: Date.now() + 5_000 }, (err) => resolve(err ?? undefined));
  });
}
