import { describe, expect, it } from 'vitest';
import { sample } from './metrics-text.js';

const TEXT = `# HELP mesh_requests_total Requests.
# TYPE mesh_requests_total counter
mesh_requests_total{reporter="source",source_service="frontend.default",destination_service="orders.default"} 3
mesh_requests_total{reporter="destination",source_service="orders.default",destination_service="frontend.default"} 5
mesh_request_duration_seconds_bucket{le="0.005",route="a \\"quoted\\" b"} 2 # {trace_id="abc"} 0.001 1700000000
plain_total 7
`;

describe('sample() in the tests', () => {
  it('matches labels by name exactly, not by substring', () => {
    // `source_service="orders.default"` is a substring of the first line's destination_service label.
    expect(sample(TEXT, 'mesh_requests_total', { source_service: 'orders.default' })).toBe(5);
    expect(sample(TEXT, 'mesh_requests_total', { service: 'orders.default' })).toBeUndefined();
    expect(() => sample(TEXT, 'mesh_requests_total')).toThrow(/more than one/);
  });

  it('reads escaped label values, exemplars and samples without labels', () => {
    expect(sample(TEXT, 'mesh_request_duration_seconds_bucket', { route: 'a "quoted" b' })).toBe(2);
    expect(sample(TEXT, 'plain_total')).toBe(7);
    expect(sample(TEXT, 'plain')).toBeUndefined();
  });
});
