import { describe, expect, it } from 'vitest';
import { meshControl, type ConfigResponse } from '../proto/index.js';
import { withSharedResourceEncoding } from './response-encoding.js';

const resources = [
  { file: 'routes.yaml', line: 1, yaml: 'kind: HTTPRoute\nmetadata: {name: orders}\n' },
  { file: 'services.yaml', line: 7, yaml: 'kind: MeshService\nmetadata: {name: orders}\n' },
];

function response(nonce: string): ConfigResponse {
  return { version_info: 'abc123', nonce, resources, report_interval_ms: 5000, resource_names: ['orders.default', 'payments.default'], mesh_services: ['orders.default', 'payments.default', 'frontend.default'] };
}

describe('config responses with the view encoded once', () => {
  it('decode, on the sidecar, to exactly the response that was written', () => {
    const plain = meshControl().service['StreamConfig']!;
    const shared = withSharedResourceEncoding(meshControl().service)['StreamConfig']!;
    for (const nonce of ['1', '2']) {
      const bytes = shared.responseSerialize(response(nonce));
      expect(plain.responseDeserialize(bytes)).toEqual(response(nonce));
      expect(plain.responseDeserialize(bytes)).toEqual(plain.responseDeserialize(plain.responseSerialize(response(nonce))));
    }
  });
});
