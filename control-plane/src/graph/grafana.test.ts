import { describe, expect, it } from 'vitest';
import { assembleGraph } from './assemble.js';
import { NODE_GRAPH_FIELDS, toNodeGraphData } from './grafana.js';

const graph = assembleGraph(
  [
    { source: 'unknown', target: 'orders.default', protocol: 'http', requests: 40, errors: 10, denied: 0, latency: { p50: 0.01, p95: 0.05, p99: 0.1 } },
    { source: 'orders.default', target: 'payments.default', protocol: 'grpc', requests: 20, errors: 0, denied: 2, latency: { p50: 0.002, p95: 0.004, p99: 0.005 } },
  ],
  new Map([['orders.default', { p50: 0.01, p95: 0.05, p99: 0.1 }]]),
  20_000,
);

describe('the graph in the Node Graph API data source format', () => {
  const data = toNodeGraphData(graph);

  it('uses only the columns /api/graph/fields declares', () => {
    const nodeFields = new Set(NODE_GRAPH_FIELDS.nodes_fields.map((f) => f.field_name));
    const edgeFields = new Set(NODE_GRAPH_FIELDS.edges_fields.map((f) => f.field_name));
    for (const n of data.nodes) expect(Object.keys(n).filter((k) => !nodeFields.has(k))).toEqual([]);
    for (const e of data.edges) expect(Object.keys(e).filter((k) => !edgeFields.has(k))).toEqual([]);
  });

  it('splits a called node ring into success and error fractions adding up to 1', () => {
    const orders = data.nodes.find((n) => n.id === 'orders.default')!;
    expect(orders).toMatchObject({ title: 'orders', subTitle: 'default', mainStat: '2.00 req/s', secondaryStat: 'p99 100.0 ms', arc__success: 0.75, arc__errors: 0.25 });
    expect(data.nodes.find((n) => n.id === 'unknown')).toMatchObject({ arc__success: 0, arc__errors: 0, mainStat: '0.00 req/s' });
  });

  it('labels an edge with its rate and error share', () => {
    expect(data.edges.find((e) => e.id === 'unknown->orders.default')).toMatchObject({ source: 'unknown', target: 'orders.default', mainStat: '2.00 req/s', secondaryStat: '25.0% errors' });
    expect(data.edges.find((e) => e.id === 'orders.default->payments.default')).toMatchObject({ detail__protocol: 'grpc', detail__denied: 2, detail__p99: 5 });
  });
});
