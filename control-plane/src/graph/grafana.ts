// The graph as the Grafana "Node Graph API" data source (plugin hamedkarbasi93-nodegraphapi-datasource)
// reads it. Per the plugin's README (github.com/hoptical/nodegraph-api-plugin): GET /api/graph/fields
// answers {edges_fields, nodes_fields}, each a list of {field_name, type: 'string'|'number'} with optional
// `color` (arc__* fields) and `displayName` (detail__* fields); GET /api/graph/data answers {nodes, edges},
// objects keyed by those field names; GET /api/health answers 200. Its src/datasource.ts turns each field
// into a data frame column (color -> fixed color config) for Grafana's Node Graph panel, whose node
// columns are id, title, subTitle, mainStat, secondaryStat, arc__* (fractions that add up to 1), detail__*.
import type { Graph, GraphEdge, GraphNode, TrafficStats } from './types.js';

interface FieldSpec {
  field_name: string;
  type: 'string' | 'number';
  color?: string;
  displayName?: string;
}

export interface NodeGraphFields {
  edges_fields: FieldSpec[];
  nodes_fields: FieldSpec[];
}

export type NodeGraphRow = Record<string, string | number>;

export interface NodeGraphData {
  nodes: NodeGraphRow[];
  edges: NodeGraphRow[];
}

const DETAILS: readonly [keyof TrafficStats, string][] = [
  ['requests', 'Requests'], ['errors', 'Errors'], ['p50', 'p50 (ms)'], ['p95', 'p95 (ms)'], ['p99', 'p99 (ms)'],
];

const strings = (...names: string[]): FieldSpec[] => names.map((field_name) => ({ field_name, type: 'string' }));
const details = (): FieldSpec[] => DETAILS.map(([k, displayName]) => ({ field_name: `detail__${k}`, type: 'number', displayName }));

/** The columns never change, only the rows. */
const FIELDS: NodeGraphFields = {
  nodes_fields: [
    ...strings('id', 'title', 'subTitle', 'mainStat', 'secondaryStat'),
    { field_name: 'arc__success', type: 'number', color: 'green' },
    { field_name: 'arc__errors', type: 'number', color: 'red' },
    ...details(),
  ],
  edges_fields: [
    ...strings('id', 'source', 'target', 'mainStat', 'secondaryStat'),
    // Grafana's Node Graph panel (10.x) draws an edge in `color` and dashed by `strokeDasharray`.
    ...strings('color', 'strokeDasharray'),
    { field_name: 'detail__protocol', type: 'string', displayName: 'Protocol' },
    { field_name: 'detail__denied', type: 'number', displayName: 'Denied' },
    { field_name: 'detail__declared', type: 'string', displayName: 'Declared (spec.callers)' },
    { field_name: 'detail__unexpected', type: 'string', displayName: 'Unexpected' },
    ...details(),
  ],
};
export const NODE_GRAPH_FIELDS: Readonly<NodeGraphFields> = Object.freeze(FIELDS);

const rate = (rps: number): string => `${rps.toFixed(2)} req/s`;
const errorsText = (errorRate: number): string => `${(errorRate * 100).toFixed(1)}% errors`;
const round = (n: number): number => Math.round(n * 1000) / 1000;

function detailValues(s: TrafficStats): NodeGraphRow {
  return Object.fromEntries(DETAILS.map(([k]) => [`detail__${k}`, round(s[k])]));
}

function nodeRow(n: GraphNode): NodeGraphRow {
  // A node nobody called in the window has no success/error split: both arcs 0 leave its ring empty
  // rather than painting it all green.
  const arcs = n.requests > 0 ? { arc__success: 1 - n.errorRate, arc__errors: n.errorRate } : { arc__success: 0, arc__errors: 0 };
  return {
    id: n.id, title: n.service, subTitle: n.namespace,
    mainStat: rate(n.rps), secondaryStat: n.requests > 0 ? `p99 ${n.p99.toFixed(1)} ms` : '',
    ...arcs, ...detailValues(n),
  };
}

const yesNo = (b: boolean): string => (b ? 'yes' : 'no');

/** Unexpected edges red, declared ones without traffic dashed, as the dashboard draws them. */
function edgeRow(e: GraphEdge): NodeGraphRow {
  return {
    id: e.id, source: e.source, target: e.target,
    mainStat: rate(e.rps), secondaryStat: e.unexpected ? `unexpected, ${errorsText(e.errorRate)}` : errorsText(e.errorRate),
    color: e.unexpected ? 'red' : 'gray', strokeDasharray: e.declared && e.requests === 0 ? '6 4' : '',
    detail__protocol: e.protocol, detail__denied: e.denied,
    detail__declared: yesNo(e.declared), detail__unexpected: yesNo(e.unexpected), ...detailValues(e),
  };
}

export function toNodeGraphData(g: Graph): NodeGraphData {
  return { nodes: g.nodes.map(nodeRow), edges: g.edges.map(edgeRow) };
}
