// A config push sends one view to many sidecars; only the nonce (and the subscription echo) differ. So
// each view's resources and mesh services are encoded once, and a response is its own few fields followed by those bytes:
// protobuf decodes concatenated encodings as one message (repeated fields append), the same bytes a
// whole-message encode gives.
import type * as grpc from '@grpc/grpc-js';
import type { ConfigResponse, Resource } from '../proto/index.js';

/**
 * `service` with StreamConfig's responses encoded as above; views are cached, so their resources are
 * shared arrays, each always sent with the same mesh_services (both come from one View).
 */
export function withSharedResourceEncoding(service: grpc.ServiceDefinition): grpc.ServiceDefinition {
  const method = service['StreamConfig'];
  if (method === undefined) throw new Error('MeshControl has no StreamConfig method');
  const encode = method.responseSerialize as (res: Partial<ConfigResponse>) => Buffer;
  const encoded = new WeakMap<readonly Resource[], Buffer>();
  const responseSerialize = (res: ConfigResponse): Buffer => {
    let resources = encoded.get(res.resources);
    if (resources === undefined) {
      resources = encode({ resources: res.resources, mesh_services: res.mesh_services });
      encoded.set(res.resources, resources);
    }
    return Buffer.concat([encode({ ...res, resources: [], mesh_services: [] }), resources]);
  };
  return { ...service, StreamConfig: { ...method, responseSerialize } };
}
