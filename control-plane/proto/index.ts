// Loads mesh.proto for both sides (sidecar and control plane) and types its messages. proto-loader
// options: longs as numbers (counts fit in 2^53), enums as strings, defaults filled in so a field is
// never undefined on the receiving side.
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/** A pushed document without metadata.namespace is in this namespace, on both sides of the wire. */
export const PUSH_NAMESPACE = 'default';

export interface Node {
  id: string;
  service: string;
  namespace: string;
  address: string;
}

export interface ConfigRequest {
  node: Node | null;
  version_info: string;
  response_nonce: string;
  resource_names: string[];
  error_detail: { message: string } | null;
}

export interface Resource {
  file: string;
  line: number;
  yaml: string;
}

export interface ConfigResponse {
  version_info: string;
  nonce: string;
  resources: Resource[];
  report_interval_ms: number;
  resource_names: string[];
  mesh_services: string[];
}

export interface Edge {
  source: string;
  destination: string;
  protocol: string;
  requests: number;
  errors: number;
  denied: number;
  /** Non-cumulative, bucket_bounds.length + 1 entries (the last is +Inf). */
  bucket_counts: number[];
  duration_sum_seconds: number;
}

export interface TelemetryReport {
  node: Node | null;
  timestamp_ms: number;
  period_ms: number;
  bucket_bounds: number[];
  edges: Edge[];
}

export interface TapRequest {
  service: string;
  path_prefix: string;
  method: string;
  max: number;
}

export interface TapCommand {
  tap_id: string;
  request: TapRequest | null;
  stop: boolean;
}

export interface TapEvent {
  direction: string;
  method: string;
  authority: string;
  path: string;
  status: number;
  latency_ms: number;
  flags: string;
  trace_id: string;
  request_id: string;
  start_ms: number;
  source: string;
  destination: string;
  route: string;
  node: string;
  dropped: number;
  notice: string;
}

export interface TapBatch {
  node: Node | null;
  tap_id: string;
  events: TapEvent[];
  dropped: number;
}

export type MeshControlClient = grpc.Client & {
  StreamConfig(metadata?: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<ConfigRequest, ConfigResponse>;
  Report(report: TelemetryReport, metadata: grpc.Metadata, options: grpc.CallOptions, cb: (err: grpc.ServiceError | null) => void): grpc.ClientUnaryCall;
  TapChannel(metadata?: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<TapBatch, TapCommand>;
  Tap(request: TapRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<TapEvent>;
};

export interface MeshControlService {
  readonly service: grpc.ServiceDefinition;
  readonly Client: new (address: string, creds: grpc.ChannelCredentials, options?: grpc.ChannelOptions) => MeshControlClient;
}

/** The proto lives in the source tree (control-plane/proto), found from here whether running from src or dist. */
function protoDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'control-plane', 'proto');
    if (existsSync(join(candidate, 'meshlight', 'v1', 'mesh.proto'))) return candidate;
    if (existsSync(join(dir, 'meshlight', 'v1', 'mesh.proto'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('control-plane/proto/meshlight/v1/mesh.proto not found above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
}

let loaded: MeshControlService | undefined;

export function meshControl(): MeshControlService {
  if (loaded !== undefined) return loaded;
  const def = protoLoader.loadSync('meshlight/v1/mesh.proto', {
    includeDirs: [protoDir()], keepCase: true, longs: Number, enums: String, defaults: true, arrays: true, oneofs: true,
  });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { meshlight: { v1: { MeshControl: grpc.ServiceClientConstructor } } };
  const ctor = pkg.meshlight.v1.MeshControl;
  loaded = { service: ctor.service, Client: ctor as unknown as MeshControlService['Client'] };
  return loaded;
}
